/**
 * The field usage recorder. Per request it does a few map operations: the operation's entry (its
 * coordinates, computed once per document and operation name and cached on the document object) and
 * one counter per client on that entry. Counts are drained into the sink when a time window ends,
 * on a timer, and before every read: the hot path never touches Redis.
 *
 * Hand-written: usage reporting libraries (Hive's, Apollo's) send their reports to a cloud service;
 * this one keeps them inside the gateway (memory) or the company's Redis.
 */
import { createHash } from 'node:crypto';
import type { DocumentNode, GraphQLSchema } from 'graphql';
import { operationCoordinates } from './coordinates.js';
import { USAGE_FORMAT, type UsageExport, type UsageOperation, type UsageSink } from './types.js';

/** One operation as the recorder counts it. @internal */
export interface UsageEntry {
  readonly id: string;
  readonly operation: string;
  readonly coordinates: readonly string[];
  readonly deprecated: readonly string[];
  /** Requests per client since the last drain. */
  readonly pending: Map<string, number>;
  lastSeen: number;
  queued: boolean;
}

export interface UsageRecorderOptions {
  readonly sink: UsageSink;
  /** Length of a counting window (ms). */
  readonly windowMs?: number;
  /** Distinct operations counted; more are counted as `overflow` only. */
  readonly maxOperations?: number;
  /** How long counts are kept (ms); reads never reach further back. */
  readonly retentionMs?: number;
  /** Called with each drained count of an operation reading deprecated coordinates (metrics). */
  readonly onDeprecated?: (coordinates: readonly string[], client: string, count: number) => void;
  readonly now?: () => number;
}

/** Operations by document: computed once per parsed document (yoga's parser cache keeps the objects). */
type PerDocument = Map<string | null, UsageEntry | null>;

/**
 * Counts schema coordinates per client and operation.
 *
 * @example
 * const recorder = new UsageRecorder({ sink: new MemoryUsageSink() });
 * const entry = recorder.entry(schema, document, 'ProductPage');
 * if (entry) recorder.record(entry, 'web');
 * const usage = await recorder.export(30);
 */
export class UsageRecorder {
  /** Operations (document and name) not counted because `maxOperations` distinct ones were already known. */
  overflow = 0;
  private readonly sink: UsageSink;
  private readonly windowMs: number;
  private readonly maxOperations: number;
  private readonly retentionMs: number;
  private readonly onDeprecated: UsageRecorderOptions['onDeprecated'];
  private readonly now: () => number;
  private readonly documents = new WeakMap<DocumentNode, PerDocument>();
  /** Entries by id: documents with the same operation name and coordinates share one. */
  private readonly entries = new Map<string, UsageEntry>();
  private readonly queue: UsageEntry[] = [];
  private windowStart: number;
  private windowEnd: number;

  constructor(opts: UsageRecorderOptions) {
    const d = {
      windowMs: opts.windowMs ?? 3_600_000, // ms: hourly windows
      maxOperations: opts.maxOperations ?? 5_000, // distinct (name, coordinates) pairs
      retentionMs: opts.retentionMs ?? 30 * 86_400_000, // ms: 30 days
    };
    for (const [k, v] of Object.entries(d)) {
      if (!Number.isSafeInteger(v) || v < 1) throw new TypeError(`UsageRecorder: ${k} must be an integer >= 1, but is ${JSON.stringify(v)}.`);
    }
    this.sink = opts.sink;
    this.windowMs = d.windowMs;
    this.maxOperations = d.maxOperations;
    this.retentionMs = d.retentionMs;
    this.onDeprecated = opts.onDeprecated;
    this.now = opts.now ?? Date.now;
    this.windowStart = this.startOf(this.now());
    this.windowEnd = this.windowStart + this.windowMs;
  }

  get store(): UsageSink['kind'] {
    return this.sink.kind;
  }

  /** The operation's entry (cached per document), or null when it is not counted (unknown operation, over the bound). */
  entry(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined): UsageEntry | null {
    let perDoc = this.documents.get(document);
    if (!perDoc) this.documents.set(document, (perDoc = new Map()));
    const key = operationName ?? null;
    const cached = perDoc.get(key);
    if (cached !== undefined) return cached;
    const computed = this.resolve(schema, document, key);
    perDoc.set(key, computed);
    return computed;
  }

  /** One request of `entry` by `client`: the hot path. */
  record(entry: UsageEntry, client: string): void {
    const now = this.now();
    if (now >= this.windowEnd) this.rotate(now);
    entry.pending.set(client, (entry.pending.get(client) ?? 0) + 1);
    entry.lastSeen = now;
    if (!entry.queued) {
      entry.queued = true;
      this.queue.push(entry);
    }
  }

  /** Moves the pending counts into the sink, under the current window. */
  drain(): void {
    if (!this.queue.length) return;
    const counts: { client: string; id: string; count: number; lastSeen: number }[] = [];
    const operations = new Map<string, UsageOperation>();
    for (const e of this.queue) {
      for (const [client, count] of e.pending) {
        counts.push({ client, id: e.id, count, lastSeen: e.lastSeen });
        if (e.deprecated.length) this.onDeprecated?.(e.deprecated, client, count);
      }
      e.pending.clear();
      e.queued = false;
      operations.set(e.id, { operation: e.operation, coordinates: e.coordinates });
    }
    this.queue.length = 0;
    this.sink.add(this.windowStart, counts, operations);
  }

  /** Everything counted over the last `days` days (at most the retention), every replica's with Redis. */
  async export(days?: number): Promise<UsageExport> {
    this.drain();
    await this.sink.flush();
    const to = this.now();
    const span = days === undefined ? this.retentionMs : Math.min(this.retentionMs, Math.round(days * 86_400_000));
    const since = this.startOf(to - span);
    const { operations, counts } = await this.sink.read(since);
    counts.sort((a, b) => a.window - b.window || a.client.localeCompare(b.client) || a.id.localeCompare(b.id));
    return { format: USAGE_FORMAT, version: 1, store: this.sink.kind, windowMs: this.windowMs, from: since, to, operations, counts };
  }

  async close(): Promise<void> {
    this.drain();
    await this.sink.close();
  }

  private startOf(t: number): number {
    return t - (t % this.windowMs);
  }

  private rotate(now: number): void {
    this.drain();
    this.windowStart = this.startOf(now);
    this.windowEnd = this.windowStart + this.windowMs;
  }

  private resolve(schema: GraphQLSchema, document: DocumentNode, operationName: string | null): UsageEntry | null {
    const found = operationCoordinates(schema, document, operationName);
    if (!found) return null;
    const id = createHash('sha256').update(`${found.operation}\n${found.coordinates.join('\n')}`).digest('hex').slice(0, 16);
    const known = this.entries.get(id);
    if (known) return known;
    if (this.entries.size >= this.maxOperations) {
      this.overflow++;
      return null;
    }
    const entry: UsageEntry = { id, ...found, pending: new Map(), lastSeen: 0, queued: false };
    this.entries.set(id, entry);
    return entry;
  }
}
