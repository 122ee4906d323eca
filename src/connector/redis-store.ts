/**
 * The Redis store, in its own module so that a gateway without `REDIS_URL` never loads the Redis
 * client (the composition root imports it on demand). A slow or broken Redis is a miss, never an
 * error: every operation is bounded by `timeoutMs`, and the client reconnects by itself.
 */
import KeyvRedis from '@keyv/redis';
import Keyv from 'keyv';
import { redisClient, type RedisClient } from '../redis.js';
import type { CacheEntry, CacheRead, CacheStore, Invalidation } from './cache.js';

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
 * The record kept in Redis: short field names (the value and until when it is fresh, epoch ms),
 * bytes saved on every entry, and the format replicas still on the previous version read.
 */
interface StoredRecord {
  readonly v: unknown;
  readonly f: number;
}

const isStoredRecord = (e: unknown): e is StoredRecord =>
  typeof e === 'object' && e !== null && 'v' in e && typeof (e as { f?: unknown }).f === 'number';

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
    this.client = redisClient(opts.url).client;
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
    return got.map((e) => (isStoredRecord(e) ? { value: e.v, freshUntil: e.f, store: 'redis' as const } : undefined));
  }

  async set(key: string, entry: CacheEntry, ttlMs: number): Promise<void> {
    if (!this.client.isReady) return;
    await withTimeout(
      this.keyv.set(this.k(key), { v: entry.value, f: entry.freshUntil } satisfies StoredRecord, ttlMs).then(() => undefined),
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
    this.subscriber ??= redisClient(this.url).client;
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

