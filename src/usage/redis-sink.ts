/**
 * Field usage shared by every gateway process through Redis (`REDIS_URL`). Each process drains its
 * counts into a buffer; the buffer is sent in one pipeline on each flush (a timer of the usage layer,
 * and before a read), so a request never waits for Redis. Per window (key names under `<namespace>:usage:`):
 *
 * - `w:<window>` hash `client<TAB>id` → requests (HINCRBY: every replica adds its own);
 * - `seen:<window>` sorted set `client<TAB>id` → last seen ms (ZADD GT keeps the latest of all replicas);
 * - `ops:<window>` hash id → `{operation, coordinates}` JSON (HSETNX, once per process and window).
 *
 * Every key expires with the retention. While Redis is down, buffered counts are kept (bounded) and
 * sent with the next flush that succeeds.
 */
import { redisClient, type RedisClient } from '../redis.js';
import type { UsageCount, UsageOperation, UsageSink } from './types.js';

/** How long a read waits for the first connection (ms). */
const CONNECT_WAIT_MS = 1_000;

/** How long closing waits for the last flush, then for QUIT's answer (ms). */
const CLOSE_WAIT_MS = 1_000;

/** Settles when `p` does or after `ms`, whichever is first; never rejects. */
async function bounded(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

interface Buffered {
  count: number;
  lastSeen: number;
}

export interface RedisUsageSinkOptions {
  readonly url: string;
  readonly namespace: string;
  readonly windowMs: number;
  readonly retentionMs: number;
  /** Rows buffered while Redis is unavailable; more are dropped (and counted). */
  readonly maxBuffered?: number;
}

export class RedisUsageSink implements UsageSink {
  readonly kind = 'redis' as const;
  /** Rows dropped because Redis stayed unavailable and the buffer was full. */
  dropped = 0;
  private readonly client: RedisClient;
  private readonly connected: Promise<void>;
  private readonly prefix: string;
  private readonly windowMs: number;
  private readonly retentionMs: number;
  private readonly maxBuffered: number;
  /** window → `client\tid` → counts not yet sent. */
  private buffer = new Map<number, Map<string, Buffered>>();
  private buffered = 0;
  private readonly definitions = new Map<string, UsageOperation>();
  /** `window\tid` definitions this process has written. */
  private readonly written = new Set<string>();
  private sending: Promise<void> | undefined;

  /**
   * @example
   * const sink = new RedisUsageSink({ url: 'redis://127.0.0.1:6379', namespace: 'tributary', windowMs: 3_600_000, retentionMs: 30 * 86_400_000 });
   */
  constructor(opts: RedisUsageSinkOptions) {
    this.maxBuffered = opts.maxBuffered ?? 50_000; // rows
    this.prefix = `${opts.namespace}:usage:`;
    this.windowMs = opts.windowMs;
    this.retentionMs = opts.retentionMs;
    const { client, connected } = redisClient(opts.url);
    this.client = client;
    this.connected = connected;
  }

  add(window: number, counts: readonly Omit<UsageCount, 'window'>[], operations: ReadonlyMap<string, UsageOperation>): void {
    for (const [id, op] of operations) this.definitions.set(id, op);
    let rows = this.buffer.get(window);
    if (!rows) this.buffer.set(window, (rows = new Map()));
    for (const c of counts) {
      const key = `${c.client}\t${c.id}`;
      const row = rows.get(key);
      if (row) {
        row.count += c.count;
        row.lastSeen = Math.max(row.lastSeen, c.lastSeen);
      } else if (this.buffered >= this.maxBuffered) {
        this.dropped += c.count;
      } else {
        rows.set(key, { count: c.count, lastSeen: c.lastSeen });
        this.buffered++;
      }
    }
  }

  /** Sends the buffer in one pipeline; on failure it is kept for the next flush. */
  flush(): Promise<void> {
    this.sending ??= this.send().finally(() => (this.sending = undefined));
    return this.sending;
  }

  async read(since: number): Promise<{ operations: Record<string, UsageOperation>; counts: UsageCount[] }> {
    // Right after start the first connection may still be on its way; a Redis that is down fails the read at once.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.connected, new Promise<void>((resolve) => (timer = setTimeout(resolve, CONNECT_WAIT_MS)))]);
    clearTimeout(timer);
    if (!this.client.isReady) throw new Error('Redis is unavailable');
    const windows: number[] = [];
    for (let w = since; w <= Date.now(); w += this.windowMs) windows.push(w);
    const multi = this.client.multi();
    for (const w of windows) multi.hGetAll(`${this.prefix}w:${w}`).zRangeWithScores(`${this.prefix}seen:${w}`, 0, -1).hGetAll(`${this.prefix}ops:${w}`);
    const replies = (await multi.execAsPipeline()) as unknown[];
    const counts: UsageCount[] = [];
    const operations: Record<string, UsageOperation> = {};
    windows.forEach((window, i) => {
      const totals = replies[i * 3] as Record<string, string>;
      const seen = new Map((replies[i * 3 + 1] as { value: string; score: number }[]).map((m) => [m.value, m.score]));
      const ops = replies[i * 3 + 2] as Record<string, string>;
      for (const [id, json] of Object.entries(ops)) operations[id] ??= JSON.parse(json) as UsageOperation;
      for (const [key, n] of Object.entries(totals)) {
        const [client, id] = key.split('\t') as [string, string];
        counts.push({ window, client, id, count: Number(n), lastSeen: seen.get(key) ?? window });
      }
    });
    return { operations, counts };
  }

  async close(): Promise<void> {
    // The last counts, and a polite QUIT, each bounded: a slow or vanishing Redis must not hold up shutdown.
    await bounded(this.flush(), CLOSE_WAIT_MS);
    if (this.client.isReady) await bounded(this.client.quit(), CLOSE_WAIT_MS);
    if (this.client.isOpen) {
      try {
        this.client.destroy();
      } catch {
        /* already closed */
      }
    }
  }

  private async send(): Promise<void> {
    if (!this.buffered || !this.client.isReady) return;
    const batch = this.buffer;
    this.buffer = new Map();
    this.buffered = 0;
    const ttl = this.retentionMs + this.windowMs;
    const multi = this.client.multi();
    const newlyWritten: string[] = [];
    for (const [window, rows] of batch) {
      const w = `${this.prefix}w:${window}`;
      const seen = `${this.prefix}seen:${window}`;
      const ops = `${this.prefix}ops:${window}`;
      for (const [key, row] of rows) {
        multi.hIncrBy(w, key, row.count).zAdd(seen, { score: row.lastSeen, value: key }, { comparison: 'GT' });
        const id = key.slice(key.indexOf('\t') + 1);
        const mark = `${window}\t${id}`;
        const def = this.definitions.get(id);
        if (def && !this.written.has(mark)) {
          multi.hSetNX(ops, id, JSON.stringify(def));
          newlyWritten.push(mark);
        }
      }
      multi.pExpire(w, ttl).pExpire(seen, ttl).pExpire(ops, ttl);
    }
    try {
      await multi.execAsPipeline();
      // HSETNX again would be harmless: the marks only save commands, so a full set just starts over.
      if (this.written.size > 100_000) this.written.clear();
      for (const m of newlyWritten) this.written.add(m);
    } catch {
      // Redis unavailable: keep the counts for the next flush (bounded by maxBuffered).
      for (const [window, rows] of batch) this.add(window, [...rows].map(([key, r]) => ({ client: key.split('\t')[0]!, id: key.split('\t')[1]!, ...r })), new Map());
    }
  }
}
