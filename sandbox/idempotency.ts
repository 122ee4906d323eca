/**
 * `Idempotency-Key` for side-effecting routes: the first answer of a key is kept (24 h by the
 * sandbox clock) with a fingerprint of its request (method, path, query, and the body as canonical
 * JSON, so key order and spacing do not matter); the same key and fingerprint get that answer again
 * without running the handler, another fingerprint gets a 409. Handlers run synchronously on the
 * event loop, so two requests with one key can never both run: the second sees the first's answer.
 * A 400 (the request was invalid, nothing was done) is not kept, so a corrected retry may reuse the key.
 */
import { createHash } from 'node:crypto';
import type { Reply } from './descriptor.js';
import type { IdempotencyRecord } from './types.js';

/** How long a key and its answer are kept, ms (24 h). */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 60 * 60 * 1000;
/** Longest key accepted (longer: 400). */
export const IDEMPOTENCY_KEY_MAX_LENGTH = 255;

export const KEY_REUSED: Reply = { status: 409, body: { message: 'Idempotency-Key reused with a different body' } };

interface Entry {
  route: string;
  fingerprint: string;
  reply: Reply;
  applied: number;
  replays: number;
  conflicts: number;
  firstSeen: number;
}

/** JSON with object keys sorted at every level; a body that is not JSON is used as it is. */
function canonicalBody(body: Buffer): string {
  if (body.length === 0) return '';
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    return `raw:${body.toString('base64')}`;
  }
  const canon = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(canon);
    if (x && typeof x === 'object') return Object.fromEntries(Object.keys(x).sort().map((k) => [k, canon((x as Record<string, unknown>)[k])]));
    return x;
  };
  return JSON.stringify(canon(v));
}

export class IdempotencyStore {
  /** Insertion order = first-seen order, so expired keys are at the front. */
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly now: () => number) {}

  /**
   * Answers a request carrying `key`: the kept answer, a 409, or `run()`'s answer (kept unless a 400).
   * `request` identifies the call (method, path and query).
   */
  handle(key: string, route: string, request: string, body: Buffer, run: () => Reply): Reply {
    if (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX_LENGTH) {
      return { status: 400, body: { message: `Idempotency-Key must be 1 to ${IDEMPOTENCY_KEY_MAX_LENGTH} characters (got ${key.length})` } };
    }
    this.expire();
    const fingerprint = createHash('sha256').update(request).update('\n').update(canonicalBody(body)).digest('base64url');
    const seen = this.entries.get(key);
    if (seen) {
      if (seen.fingerprint !== fingerprint) {
        seen.conflicts++;
        return KEY_REUSED;
      }
      seen.replays++;
      return seen.reply;
    }
    const reply = run();
    if (reply.status !== 400) this.entries.set(key, { route, fingerprint, reply, applied: 1, replays: 0, conflicts: 0, firstSeen: this.now() });
    return reply;
  }

  records(): IdempotencyRecord[] {
    this.expire();
    return [...this.entries].map(([key, e]) => ({
      key,
      route: e.route,
      applied: e.applied,
      replays: e.replays,
      conflicts: e.conflicts,
      status: e.reply.status,
      firstSeenAt: new Date(e.firstSeen).toISOString(),
    }));
  }

  private expire(): void {
    const cutoff = this.now() - IDEMPOTENCY_KEY_TTL_MS;
    for (const [k, e] of this.entries) {
      if (e.firstSeen > cutoff) break;
      this.entries.delete(k);
    }
  }
}
