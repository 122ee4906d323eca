/**
 * Client keys claimed in Redis, for replicas whose logs are separate (each its own embedded file): a key
 * is taken with `SET NX` before the instance is created, so two replicas never both run one key; the
 * replica that ran it publishes the outcome under the key, where the other replicas read it.
 * With PostgreSQL the log's unique constraint does this and no claims are needed.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from '../redis.js';
import { WorkflowError } from './errors.js';
import type { Outcome } from './outcome.js';

export interface Claim {
  readonly instanceId: string;
  readonly hash: string;
  readonly outcome?: Outcome;
}

export interface KeyClaims {
  /** Takes the key for this instance, or answers who holds it (and its outcome once published). */
  claim(userId: string, clientKey: string, claim: Claim): Promise<{ claimed: true } | ({ claimed: false } & Claim)>;
  get(userId: string, clientKey: string): Promise<Claim | undefined>;
  publish(userId: string, clientKey: string, claim: Claim): Promise<void>;
}

/** Redis could not be asked: refusing is safer than two replicas running one key (two charges). */
export class IdempotencyUnavailableError extends WorkflowError {
  constructor(cause: unknown) {
    // The code is the runner's "not finished yet" one: the client asks again with the same key.
    super('WORKFLOW_IN_DOUBT', 'The operation could not be started now; send it again with the same idempotency key.', {}, cause);
    this.name = 'IdempotencyUnavailableError';
  }
}

/**
 * Key claims in Redis, kept as long as the log keeps instances.
 *
 * @example
 * const claims = redisKeyClaims(redisClient(process.env.REDIS_URL!).client, { retentionMs: 24 * 3_600_000 });
 * createWorkflowRunner({ ..., claims });
 */
export function redisKeyClaims(client: RedisClient, options: { retentionMs: number; prefix?: string }): KeyClaims {
  const prefix = options.prefix ?? 'tributary:workflow-key:';
  // Hashed: keys and user ids may hold any character, and Redis need not see them.
  const key = (userId: string, clientKey: string) => prefix + createHash('sha256').update(JSON.stringify([userId, clientKey])).digest('hex');
  const guard = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw new IdempotencyUnavailableError(e);
    }
  };
  const read = async (k: string) => {
    const raw = await client.get(k);
    return raw === null ? undefined : (JSON.parse(raw) as Claim);
  };
  return {
    claim: (userId, clientKey, c) =>
      guard(async () => {
        const k = key(userId, clientKey);
        // Two tries: the key may expire between a failed SET NX and the GET that reads who held it.
        for (let i = 0; i < 2; i++) {
          const set = await client.set(k, JSON.stringify(c), { condition: 'NX', expiration: { type: 'PX', value: options.retentionMs } });
          if (set === 'OK') return { claimed: true as const };
          const held = await read(k);
          if (held) return { claimed: false as const, ...held };
        }
        throw new Error('the claim kept expiring');
      }),
    get: (userId, clientKey) => guard(() => read(key(userId, clientKey))),
    publish: (userId, clientKey, c) =>
      guard(async () => {
        await client.set(key(userId, clientKey), JSON.stringify(c), { condition: 'XX', expiration: 'KEEPTTL' });
      }),
  };
}
