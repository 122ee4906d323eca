/**
 * Field usage kept in this process's memory (no `REDIS_URL`): counts per window, client and
 * operation, bounded by age (the retention) and by number of rows (the oldest windows go first).
 */
import type { UsageCount, UsageOperation, UsageSink } from './types.js';

interface Row {
  count: number;
  lastSeen: number;
}

export class MemoryUsageSink implements UsageSink {
  readonly kind = 'memory' as const;
  private readonly windows = new Map<number, Map<string, Row>>();
  private readonly operations = new Map<string, UsageOperation>();
  private readonly retentionMs: number;
  private readonly maxRows: number;
  private readonly now: () => number;
  private rows = 0;

  /**
   * @example
   * const recorder = new UsageRecorder({ sink: new MemoryUsageSink({ retentionMs: 7 * 86_400_000 }) });
   */
  constructor(opts: { retentionMs?: number; maxRows?: number; now?: () => number } = {}) {
    this.retentionMs = opts.retentionMs ?? 30 * 86_400_000; // ms
    this.maxRows = opts.maxRows ?? 100_000; // (window, client, operation) rows
    this.now = opts.now ?? Date.now;
  }

  add(window: number, counts: readonly Omit<UsageCount, 'window'>[], operations: ReadonlyMap<string, UsageOperation>): void {
    for (const [id, op] of operations) this.operations.set(id, op);
    let rows = this.windows.get(window);
    if (!rows) this.windows.set(window, (rows = new Map()));
    for (const c of counts) {
      // A tab cannot appear in a client or an id (client names are validated, ids are hex).
      const key = `${c.client}\t${c.id}`;
      const row = rows.get(key);
      if (row) {
        row.count += c.count;
        row.lastSeen = Math.max(row.lastSeen, c.lastSeen);
      } else {
        rows.set(key, { count: c.count, lastSeen: c.lastSeen });
        this.rows++;
      }
    }
    this.prune();
  }

  async read(since: number): Promise<{ operations: Record<string, UsageOperation>; counts: UsageCount[] }> {
    this.prune();
    const counts: UsageCount[] = [];
    const operations: Record<string, UsageOperation> = {};
    for (const [window, rows] of this.windows) {
      if (window < since) continue;
      for (const [key, row] of rows) {
        const [client, id] = key.split('\t') as [string, string];
        counts.push({ window, client, id, count: row.count, lastSeen: row.lastSeen });
        const op = this.operations.get(id);
        if (op) operations[id] = op;
      }
    }
    return { operations, counts };
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}

  /** Drops windows past the retention, then the oldest while over the row bound; operations no row names. */
  private prune(): void {
    const oldest = this.now() - this.retentionMs;
    let dropped = false;
    // Maps iterate in insertion order, and windows are inserted in time order.
    for (const [window, rows] of this.windows) {
      if (window >= oldest && this.rows <= this.maxRows) break;
      this.windows.delete(window);
      this.rows -= rows.size;
      dropped = true;
    }
    if (!dropped) return;
    const named = new Set<string>();
    for (const rows of this.windows.values()) for (const key of rows.keys()) named.add(key.slice(key.indexOf('\t') + 1));
    for (const id of this.operations.keys()) if (!named.has(id)) this.operations.delete(id);
  }
}
