/**
 * Cache stores for upstream values, cached per key (not per batch). Two stores:
 * - memory: an lru-cache bounded by entry count (never a Map that grows forever);
 * - redis: keyv over @keyv/redis, shared by every gateway process, under a prefix that carries a
 *   schema version so a deploy that changes a value's shape never reads old entries.
 * A slow or broken store is a miss, never an error: every operation is bounded by `timeoutMs`.
 */
import { LRUCache } from 'lru-cache';
import Keyv from 'keyv';
import KeyvRedis from '@keyv/redis';

/** What is stored: the value (null means "the upstream said it does not exist"). */
export interface CacheEntry {
  readonly v: unknown;
}

export interface CacheStore {
  readonly name: 'memory' | 'redis';
  getMany(keys: readonly string[]): Promise<(CacheEntry | undefined)[]>;
  set(key: string, entry: CacheEntry, ttlMs: number): Promise<void>;
  delete(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * In-process LRU store.
 *
 * @example
 * const store = new MemoryStore({ maxEntries: 10_000 });
 */
export class MemoryStore implements CacheStore {
  readonly name = 'memory' as const;
  private readonly lru: LRUCache<string, CacheEntry>;

  constructor(opts: { maxEntries: number }) {
    this.lru = new LRUCache({ max: opts.maxEntries, ttlAutopurge: false });
  }

  get size(): number {
    return this.lru.size;
  }

  async getMany(keys: readonly string[]): Promise<(CacheEntry | undefined)[]> {
    return keys.map((k) => this.lru.get(k));
  }

  async set(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    this.lru.set(key, entry, { ttl: ttlMs });
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const k of keys) this.lru.delete(k);
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise<T>((resolve) => {
    const t = setTimeout(() => resolve(fallback), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      () => {
        clearTimeout(t);
        resolve(fallback);
      },
    );
  });
}

/**
 * Redis store shared by gateway processes.
 *
 * @example
 * const store = new RedisStore({ url: 'redis://127.0.0.1:6379', namespace: 'tributary:v1', timeoutMs: 50 });
 */
export class RedisStore implements CacheStore {
  readonly name = 'redis' as const;
  private readonly keyv: Keyv;
  private readonly timeoutMs: number;

  constructor(opts: { url: string; namespace: string; timeoutMs: number }) {
    this.timeoutMs = opts.timeoutMs;
    const store = new KeyvRedis(
      {
        url: opts.url,
        // Fail fast while disconnected instead of queueing commands until Redis returns.
        disableOfflineQueue: true,
        socket: { connectTimeout: 1_000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2_000) },
      },
      { throwOnConnectError: false, throwOnErrors: false, connectionTimeout: 1_000 },
    );
    this.keyv = new Keyv({ store, namespace: opts.namespace, throwOnErrors: false, emitErrors: false });
    // Connection errors are handled by treating every operation as a miss; do not crash on them.
    this.keyv.on('error', () => {});
    store.on?.('error', () => {});
  }

  async getMany(keys: readonly string[]): Promise<(CacheEntry | undefined)[]> {
    const miss = keys.map(() => undefined);
    const got = await withTimeout(this.keyv.getMany<CacheEntry>([...keys]), this.timeoutMs, miss as (CacheEntry | undefined)[]);
    return got.map((e) => (e && typeof e === 'object' && 'v' in e ? e : undefined));
  }

  async set(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    await withTimeout(this.keyv.set(key, entry, ttlMs).then(() => undefined), this.timeoutMs, undefined);
  }

  async delete(keys: readonly string[]): Promise<void> {
    await withTimeout(this.keyv.deleteMany([...keys]).then(() => undefined), this.timeoutMs, undefined);
  }

  async close(): Promise<void> {
    await withTimeout(this.keyv.disconnect(), 1_000, undefined);
  }
}
