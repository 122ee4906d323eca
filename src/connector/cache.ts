/**
 * Cache stores for upstream values, cached per key (not per batch):
 * - `MemoryStore`: an lru-cache bounded by entry count (never a Map that grows forever);
 * - `RedisStore` (`redis-store.ts`, loaded only when Redis is configured): keyv over @keyv/redis,
 *   shared by every gateway process, under a prefix that carries a version, so a deploy that changes
 *   a value's shape never reads old entries;
 * - `TieredStore`: memory in front of Redis, with invalidations broadcast to every replica's memory
 *   layer over Redis pub/sub.
 * A slow or broken Redis is a miss, never an error: every operation is bounded by `timeoutMs`, and the
 * client reconnects by itself.
 */
import { LRUCache } from 'lru-cache';
import type { RedisStore } from './redis-store.js';

/** What is stored: the value (null means "the upstream said it does not exist") and until when it is fresh. */
export interface CacheEntry {
  readonly value: unknown;
  /** Fresh until this time (epoch ms); after it the entry may still serve stale-while-revalidate or stale-if-error. */
  readonly freshUntil: number;
}

/** An entry as read, with the store that served it. */
export type CacheRead = CacheEntry & { readonly store: 'memory' | 'redis' };

/** What to remove: exact keys, or every key that starts with a prefix (e.g. a whole upstream). */
export type Invalidation = { readonly keys: readonly string[] } | { readonly prefix: string };

export interface CacheStore {
  readonly name: 'memory' | 'redis' | 'tiered';
  getMany(keys: readonly string[]): Promise<(CacheRead | undefined)[]>;
  /** `ttlMs`: how long the store keeps the entry (fresh time plus any stale windows). */
  set(key: string, entry: CacheEntry, ttlMs: number): Promise<void>;
  invalidate(what: Invalidation): Promise<number>;
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
    this.lru = new LRUCache({ max: opts.maxEntries });
  }

  get size(): number {
    return this.lru.size;
  }

  /** The keys held, most recently used first (diagnostics and tests). */
  keys(): string[] {
    return [...this.lru.keys()];
  }

  async getMany(keys: readonly string[]): Promise<(CacheRead | undefined)[]> {
    return this.getManySync(keys);
  }

  /** @internal synchronous read for the tiered store's first layer. */
  getManySync(keys: readonly string[]): (CacheRead | undefined)[] {
    return keys.map((k) => {
      const e = this.lru.get(k);
      return e ? { ...e, store: 'memory' as const } : undefined;
    });
  }

  async set(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    this.lru.set(key, entry, { ttl: ttlMs });
  }

  async invalidate(what: Invalidation): Promise<number> {
    return this.invalidateSync(what);
  }

  /** @internal */
  invalidateSync(what: Invalidation): number {
    let n = 0;
    if ('keys' in what) {
      for (const k of what.keys) if (this.lru.delete(k)) n++;
    } else {
      for (const k of [...this.lru.keys()]) if (k.startsWith(what.prefix) && this.lru.delete(k)) n++;
    }
    return n;
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}

/** Longest a replica keeps a value in its memory layer; bounds staleness if an invalidation broadcast is lost. */
const MEMORY_LAYER_MAX_TTL_MS = 10_000;
const INVALIDATE_CHANNEL = 'invalidate';

/**
 * Memory in front of Redis. Reads try memory first; a Redis hit fills memory. Invalidations delete from
 * Redis and are broadcast so every replica drops its memory copy.
 *
 * @example
 * const store = await TieredStore.create({ memory: new MemoryStore({ maxEntries: 10_000 }), redis });
 */
export class TieredStore implements CacheStore {
  readonly name = 'tiered' as const;
  /** Invalidation broadcasts received from any replica (this one included). */
  invalidationsReceived = 0;

  private constructor(
    readonly memory: MemoryStore,
    readonly redis: RedisStore,
  ) {}

  static async create(opts: { memory: MemoryStore; redis: RedisStore }): Promise<TieredStore> {
    const t = new TieredStore(opts.memory, opts.redis);
    await opts.redis.subscribe(INVALIDATE_CHANNEL, (message) => {
      t.invalidationsReceived++;
      try {
        const what = JSON.parse(message) as Invalidation;
        if ('keys' in what && Array.isArray(what.keys)) t.memory.invalidateSync({ keys: what.keys.filter((k) => typeof k === 'string') });
        else if ('prefix' in what && typeof what.prefix === 'string') t.memory.invalidateSync({ prefix: what.prefix });
      } catch {
        // a malformed broadcast is ignored
      }
    });
    return t;
  }

  async getMany(keys: readonly string[]): Promise<(CacheRead | undefined)[]> {
    const out = this.memory.getManySync(keys);
    const missing: number[] = [];
    for (let i = 0; i < keys.length; i++) if (!out[i]) missing.push(i);
    if (missing.length === 0) return out;
    const fromRedis = await this.redis.getMany(missing.map((i) => keys[i]!));
    const now = Date.now();
    missing.forEach((i, j) => {
      const e = fromRedis[j];
      if (!e) return;
      out[i] = e;
      // Keep a copy close by; a stale-window entry is not worth copying.
      if (e.freshUntil > now) void this.memory.set(keys[i]!, { value: e.value, freshUntil: e.freshUntil }, Math.min(e.freshUntil - now, MEMORY_LAYER_MAX_TTL_MS));
    });
    return out;
  }

  async set(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    await this.memory.set(key, entry, Math.min(ttlMs, MEMORY_LAYER_MAX_TTL_MS));
    await this.redis.set(key, entry, ttlMs);
  }

  async invalidate(what: Invalidation): Promise<number> {
    this.memory.invalidateSync(what);
    const n = await this.redis.invalidate(what);
    await this.redis.publish(INVALIDATE_CHANNEL, JSON.stringify(what));
    return n;
  }

  async close(): Promise<void> {
    await this.memory.close();
    await this.redis.close();
  }
}
