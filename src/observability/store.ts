/**
 * The last N traces, in memory: a fixed-size ring. Adding is O(1) and never allocates beyond the
 * record itself; the oldest record is overwritten, so the store never holds more than its bound.
 */
import { outcomeOf, type TraceRecord } from './trace.js';

/** Filters of `GET /traces`. */
export interface TraceFilter {
  /** Exact operation name. */
  readonly operation?: string | undefined;
  /** `ok`, `error`, or an HTTP status. */
  readonly status?: 'ok' | 'error' | number | undefined;
  /** Only requests that took at least this long. */
  readonly minDurationMs?: number | undefined;
  /** At most this many (default: all that match). */
  readonly limit?: number | undefined;
}

export class TraceStore {
  private readonly ring: (TraceRecord | undefined)[];
  private next = 0;
  private count = 0;

  /** @param capacity how many traces are kept (at least 1). */
  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`A trace store holds at least 1 trace, not ${capacity}.`);
    this.ring = new Array<TraceRecord | undefined>(capacity);
  }

  /** How many traces are held (never more than `capacity`). */
  get size(): number {
    return this.count;
  }

  add(r: TraceRecord): void {
    this.ring[this.next] = r;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** The newest trace with this request id. */
  get(requestId: string): TraceRecord | undefined {
    for (const r of this.newestFirst()) if (r.requestId === requestId) return r;
    return undefined;
  }

  /** Matching traces, newest first. */
  list(f: TraceFilter = {}): TraceRecord[] {
    const out: TraceRecord[] = [];
    const limit = f.limit ?? Infinity;
    for (const r of this.newestFirst()) {
      if (out.length >= limit) break;
      if (f.operation !== undefined && r.operationName !== f.operation) continue;
      if (f.minDurationMs !== undefined && r.durationMs < f.minDurationMs) continue;
      if (typeof f.status === 'number' ? r.status !== f.status : f.status !== undefined && outcomeOf(r) !== f.status) continue;
      out.push(r);
    }
    return out;
  }

  clear(): void {
    this.ring.fill(undefined);
    this.next = 0;
    this.count = 0;
  }

  private *newestFirst(): Generator<TraceRecord> {
    for (let i = 1; i <= this.count; i++) {
      const r = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (r) yield r;
    }
  }
}
