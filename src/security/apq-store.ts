/**
 * The store of automatic persisted queries (APQ, `@graphql-yoga/plugin-apq`): documents registered by
 * clients allowed ad-hoc documents, by the SHA-256 of their text. In memory, bounded in entries and
 * bytes, each entry kept `ttlMs` (least recently used out first); with Redis (`REDIS_URL`) also
 * shared by every gateway process (keyv over @keyv/redis, keys `<namespace>:apq:<sha256>`, the same
 * time to live), the memory layer in front of it. A slow or broken Redis is a miss, never an error:
 * the client then sends the document again, as the protocol has it.
 */
import type { APQStore } from '@graphql-yoga/plugin-apq';
import { LRUCache } from 'lru-cache';

export interface ApqStoreOptions {
  readonly maxEntries: number;
  /** Bytes of the documents (and their keys) kept in memory. */
  readonly maxBytes: number;
  readonly ttlMs: number;
  readonly redis?: { readonly url: string; readonly namespace: string; readonly timeoutMs: number };
}

/** The shared layer's operations (`apq-redis.ts`, loaded only with Redis). */
export interface SharedApqLayer {
  get(hash: string): Promise<string | undefined>;
  set(hash: string, document: string): Promise<void>;
  close(): Promise<void>;
}

export interface ApqStore extends APQStore {
  /** Documents held in memory. */
  readonly size: number;
  close(): Promise<void>;
}

/**
 * @example
 * const store = createApqStore({ maxEntries: 10_000, maxBytes: 8 << 20, ttlMs: 86_400_000, redis: { url, namespace: 'tributary', timeoutMs: 50 } });
 * useAPQ({ store });
 */
export function createApqStore(opts: ApqStoreOptions): ApqStore {
  const memory = new LRUCache<string, string>({
    max: opts.maxEntries,
    maxSize: opts.maxBytes,
    sizeCalculation: (document, hash) => Buffer.byteLength(document, 'utf8') + hash.length,
    ttl: opts.ttlMs,
  });
  const redis = opts.redis;
  // The Redis client is loaded only when Redis is configured.
  const shared: Promise<SharedApqLayer> | undefined = redis
    ? import('./apq-redis.js').then((m) => new m.RedisApqLayer({ ...redis, ttlMs: opts.ttlMs }))
    : undefined;
  return {
    get size() {
      return memory.size;
    },
    async get(hash) {
      const local = memory.get(hash);
      if (local !== undefined || !shared) return local;
      const found = await (await shared).get(hash);
      // A document larger than the memory bound is served from Redis only.
      if (found !== undefined) memory.set(hash, found);
      return found;
    },
    async set(hash, document) {
      memory.set(hash, document);
      if (shared) await (await shared).set(hash, document);
    },
    async close() {
      memory.clear();
      if (shared) await (await shared).close();
    },
  };
}
