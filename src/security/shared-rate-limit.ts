/**
 * Client rate limits shared by every gateway process through Redis (when `REDIS_URL` is set), so N
 * replicas admit a client's limit once, not N times. Loaded on demand by the security layer.
 *
 * Each client has one counter key; its window starts at the first request (as the in-process
 * limiter's does): `SET … PX NX` then `INCR` in one transaction, and the key's remaining time is
 * the `Retry-After`. When Redis is down or slower than `timeoutMs`, the process's own limiter decides:
 * the limit still holds per process, and requests keep flowing.
 *
 * @example
 * const shared = new SharedRateLimiter({ url: 'redis://127.0.0.1:6379', namespace: 'tributary', timeoutMs: 50, local });
 * const wait = await shared.take('mobile', { requests: 600, perSeconds: 60 }); // 0, or seconds to wait
 */
import { redisClient, type RedisClient } from '../redis.js';
import type { RateLimit } from './clients.js';

export interface LocalLimiter {
  /** Seconds to wait when `n` more operations would pass the limit, else 0 (and they are counted). */
  take(name: string, limit: RateLimit, n?: number): number;
}

export class SharedRateLimiter {
  private readonly client: RedisClient;
  private readonly namespace: string;
  private readonly timeoutMs: number;
  private readonly local: LocalLimiter;

  constructor(opts: { url: string; namespace: string; timeoutMs: number; local: LocalLimiter }) {
    this.namespace = opts.namespace;
    this.timeoutMs = opts.timeoutMs;
    this.local = opts.local;
    const { client, connected } = redisClient(opts.url);
    this.client = client;
    this.connecting = connected;
  }

  private readonly connecting: Promise<void>;

  /** Resolves once connected, or after `withinMs` (Redis down: the local limiter decides meanwhile). */
  async ready(withinMs = 1_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.connecting, new Promise<void>((resolve) => (timer = setTimeout(resolve, withinMs)))]);
    clearTimeout(timer);
  }

  /**
   * Seconds to wait when `n` more operations (a batch's) would pass the client's limit across every
   * process, else 0. They are counted either way, as every refused request is: a client hammering
   * past its limit keeps its window full.
   */
  async take(name: string, limit: RateLimit, n = 1): Promise<number> {
    if (!this.client.isReady) return this.local.take(name, limit, n);
    const key = `${this.namespace}:ratelimit:${name}`;
    const windowMs = Math.ceil(limit.perSeconds * 1000);
    // SET … PX NX starts the window (with its expiry) only when the key is absent; INCRBY keeps the TTL.
    // Works on every Redis from 2.6.12 (PEXPIRE's NX option would need 7.0).
    const shared = this.client
      .multi()
      .set(key, '0', { condition: 'NX', expiration: { type: 'PX', value: windowMs } })
      .incrBy(key, n)
      .pTTL(key)
      .exec()
      .then((r) => ({ count: Number(r[1]), ttlMs: Number(r[2]) }));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.timeoutMs);
    });
    const got = await Promise.race([shared.catch(() => undefined), timeout]);
    clearTimeout(timer);
    if (!got) return this.local.take(name, limit, n);
    if (got.count <= limit.requests) return 0;
    return Math.max(1, Math.ceil((got.ttlMs > 0 ? got.ttlMs : windowMs) / 1000));
  }

  /** Quit politely when connected; otherwise stop reconnecting at once. */
  async close(): Promise<void> {
    try {
      if (this.client.isReady) await this.client.quit();
      else if (this.client.isOpen) await this.client.disconnect();
    } catch {
      /* already closed */
    }
  }
}
