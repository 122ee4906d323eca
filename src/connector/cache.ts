/**
 * Cache stores for upstream values, cached per key (not per batch):
 * - `MemoryStore`: an lru-cache bounded by entry count (never a Map that grows forever);
 * - `RedisStore`: keyv over @keyv/redis, shared by every gateway process, under a prefix that carries
 *   a version, so a deploy that changes a value's shape never reads old entries;
 * - `TieredStore`: memory in front of Redis, with invalidations broadcast to every replica's memory
 *   layer over Redis pub/sub.
 * A slow or broken Redis is a miss, never an error: every operation is bounded by `timeoutMs`, and the
 * client reconnects by itself.
 */
import { createClient } from '@redis/client';
import KeyvRedis from '@keyv/redis';
import Keyv from 'keyv';
import { LRUCache } from 'lru-cache';

/** What is stored: the value (null means "the upstream said it does not exist") and until when it is fresh. */
export interface CacheEntry {
  readonly v: unknown;
  /** Fresh until this time (epoch ms); after it the entry may still serve stale-while-revalidate or stale-if-error. */
  readonly f: number;
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

const isEntry = (e: unknown): e is CacheEntry =>
  typeof e === 'object' && e !== null && 'v' in e && typeof (e as { f?: unknown }).f === 'number';

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

function redisClient(url: string) {
  const client = createClient({
    url,
    // Fail fast while disconnected instead of queueing commands until Redis returns.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 1_000, // ms
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1_000), // ms between attempts, forever
    },
  });
  // A broken connection is handled by treating operations as misses; never crash on it.
  client.on('error', () => {});
  client.connect().catch(() => {});
  return client;
}

type RedisClient = ReturnType<typeof redisClient>;

/**
 * Redis store shared by gateway processes. Keys are `<namespace>:<key>`; the namespace carries the
 * cache version (e.g. `tributary:v1`).
 *
 * @example
 * const store = new RedisStore({ url: 'redis://127.0.0.1:6379', namespace: 'tributary:v1', timeoutMs: 50 });
 */
export class RedisStore implements CacheStore {
  readonly name = 'redis' as const;
  readonly namespace: string;
  private readonly keyv: Keyv;
  private readonly client: RedisClient;
  private readonly timeoutMs: number;
  private readonly url: string;
  private subscriber: RedisClient | undefined;

  constructor(opts: { url: string; namespace: string; timeoutMs: number }) {
    this.url = opts.url;
    this.timeoutMs = opts.timeoutMs;
    this.namespace = opts.namespace;
    this.client = redisClient(opts.url);
    const store = new KeyvRedis(this.client as never, { throwOnConnectError: false, throwOnErrors: false });
    store.on?.('error', () => {});
    // Our own prefix, not keyv's, so that invalidation by prefix can SCAN for exactly these keys.
    this.keyv = new Keyv({ store, namespace: undefined, useKeyPrefix: false, throwOnErrors: false, emitErrors: false });
    // keyv hands the adapter a default namespace ("keyv::"); drop it so keys are exactly ours.
    store.namespace = undefined;
    this.keyv.on('error', () => {});
  }

  get connected(): boolean {
    return this.client.isReady;
  }

  private k(key: string): string {
    return `${this.namespace}:${key}`;
  }

  async getMany(keys: readonly string[]): Promise<(CacheRead | undefined)[]> {
    const miss = keys.map(() => undefined) as unknown[];
    if (!this.client.isReady) return miss as undefined[];
    const got = await withTimeout(this.keyv.getMany<unknown>(keys.map((k) => this.k(k))), this.timeoutMs, miss);
    return got.map((e) => (isEntry(e) ? { v: e.v, f: e.f, store: 'redis' as const } : undefined));
  }

  async set(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    if (!this.client.isReady) return;
    await withTimeout(
      this.keyv.set(this.k(key), { v: entry.v, f: entry.f }, ttlMs).then(() => undefined),
      this.timeoutMs,
      undefined,
    );
  }

  async invalidate(what: Invalidation): Promise<number> {
    if (!this.client.isReady) return 0;
    const run = async (): Promise<number> => {
      if ('keys' in what) {
        if (what.keys.length === 0) return 0;
        return Number(await this.client.del(what.keys.map((k) => this.k(k))));
      }
      let removed = 0;
      // SCAN, not KEYS: never block Redis for the other replicas.
      for await (const batch of this.client.scanIterator({ MATCH: `${this.k(what.prefix)}*`, COUNT: 500 })) {
        const keys = Array.isArray(batch) ? batch : [batch];
        if (keys.length) removed += Number(await this.client.del(keys as string[]));
      }
      return removed;
    };
    // Invalidation is an admin action: allow it more time than a read.
    return withTimeout(run(), Math.max(this.timeoutMs, 2_000), 0);
  }

  /** Broadcast a message to every replica (pub/sub). */
  async publish(channel: string, message: string): Promise<void> {
    if (!this.client.isReady) return;
    await withTimeout(this.client.publish(`${this.namespace}:${channel}`, message).then(() => undefined), this.timeoutMs, undefined);
  }

  /** Listen on a channel; the subscriber reconnects and resubscribes by itself. */
  async subscribe(channel: string, onMessage: (message: string) => void): Promise<void> {
    this.subscriber ??= redisClient(this.url);
    const sub = this.subscriber;
    await withTimeout(sub.subscribe(`${this.namespace}:${channel}`, onMessage).then(() => undefined), 2_000, undefined);
  }

  async close(): Promise<void> {
    for (const c of [this.client, this.subscriber]) {
      if (!c) continue;
      // Stop reconnecting either way; quit politely when connected, else just drop the socket.
      if (c.isReady) await withTimeout(c.quit().then(() => undefined), 1_000, undefined);
      if (c.isOpen) {
        try {
          c.destroy();
        } catch {
          // already closed
        }
      }
    }
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
      if (e.f > now) void this.memory.set(keys[i]!, { v: e.v, f: e.f }, Math.min(e.f - now, MEMORY_LAYER_MAX_TTL_MS));
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
