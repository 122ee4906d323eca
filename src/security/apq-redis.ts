/**
 * The shared layer of the APQ store (`apq-store.ts`): registered documents in Redis, through keyv
 * over @keyv/redis as the response cache keeps its entries, so that a document registered on one
 * gateway process is found by hash on every other. Loaded only when `REDIS_URL` is set. Every
 * command is bounded by `timeoutMs`; a slow or broken Redis is a miss (the client sends the
 * document again) or a registration kept in memory only.
 */
import KeyvRedis from '@keyv/redis';
import Keyv from 'keyv';
import { redisClient, type RedisClient } from '../redis.js';
import type { SharedApqLayer } from './apq-store.js';

function withTimeout<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise<T>((resolve) => {
    const t = setTimeout(() => resolve(fallback), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      () => (clearTimeout(t), resolve(fallback)),
    );
  });
}

/**
 * @example
 * const layer = new RedisApqLayer({ url: 'redis://127.0.0.1:6379', namespace: 'tributary', timeoutMs: 50, ttlMs: 86_400_000 });
 * await layer.set(sha256, document);
 */
export class RedisApqLayer implements SharedApqLayer {
  private readonly client: RedisClient;
  private readonly connected: Promise<void>;
  private readonly keyv: Keyv;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly ttlMs: number;
  /** The first command waits (once, bounded) for the first connection; later ones never wait. */
  private firstWait: Promise<void> | undefined;

  constructor(opts: { url: string; namespace: string; timeoutMs: number; ttlMs: number }) {
    ({ client: this.client, connected: this.connected } = redisClient(opts.url));
    this.prefix = `${opts.namespace}:apq:`;
    this.timeoutMs = opts.timeoutMs;
    this.ttlMs = opts.ttlMs;
    const store = new KeyvRedis(this.client as never, { throwOnConnectError: false, throwOnErrors: false });
    store.on?.('error', () => {});
    this.keyv = new Keyv({ store, namespace: undefined, useKeyPrefix: false, throwOnErrors: false, emitErrors: false });
    // keyv hands the adapter a default namespace ("keyv::"); drop it so keys are exactly ours.
    store.namespace = undefined;
    this.keyv.on('error', () => {});
  }

  /** Whether the client is connected, waiting at most once (up to 250 ms) for the connection being made at start. */
  private async ready(): Promise<boolean> {
    if (this.client.isReady) return true;
    await (this.firstWait ??= withTimeout(this.connected, Math.max(this.timeoutMs, 250), undefined));
    return this.client.isReady;
  }

  async get(hash: string): Promise<string | undefined> {
    if (!(await this.ready())) return undefined;
    const v = await withTimeout(this.keyv.get<unknown>(this.prefix + hash), this.timeoutMs, undefined);
    return typeof v === 'string' ? v : undefined;
  }

  async set(hash: string, document: string): Promise<void> {
    if (!(await this.ready())) return;
    await withTimeout(this.keyv.set(this.prefix + hash, document, this.ttlMs).then(() => undefined), this.timeoutMs, undefined);
  }

  async close(): Promise<void> {
    // Stop reconnecting either way; quit politely when connected, else just drop the socket.
    if (this.client.isReady) await withTimeout(this.client.quit().then(() => undefined), 1_000, undefined);
    if (this.client.isOpen) {
      try {
        this.client.destroy();
      } catch {
        // already closed
      }
    }
  }
}
