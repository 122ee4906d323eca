/**
 * A write call: one call of a single endpoint with one input, outside DataLoader, the cache and
 * coalescing (a write is never batched, stored or shared), through the upstream's policies (timeout,
 * breaker, bulkhead, budgeted retry) under the request's deadline and signal.
 *
 * With an idempotency key the call is sent with `Idempotency-Key: <key>` and is retry-safe: the
 * upstream applies it once per key, so it is retried on timeouts, retryable statuses and resets like
 * a read (never hedged: a second concurrent attempt would race the first for the same key). Without
 * one, a POST not declared `retrySafe` is sent exactly once. Traces and telemetry carry the key's
 * hash, never the key. A refusal (4xx) is an `UpstreamError` with the upstream's `status`; an
 * endpoint that declares `errorDetail` adds a small validated `detail` (./error-detail.ts).
 */
import { createHash } from 'node:crypto';
import { ConfigurationError } from '../errors.js';
import { NOT_FOUND } from './executor.js';
import type { EndpointRuntime } from './registry.js';
import type { SingleEndpointDef, WriteCallOptions } from './types.js';
import { Call, type FetchContext } from './upstream-call.js';

/** Visible ASCII, as Stripe and the IETF draft use for keys; 255 characters at most. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** What traces show for a key: enough to match attempts of one call, not enough to replay it. */
export function idempotencyKeyHash(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 16);
}

/** @internal One write call of a single endpoint (see the module's comment); the request's scope is its context. */
export async function callOnce(ep: EndpointRuntime, input: unknown, ctx: FetchContext, options: WriteCallOptions | undefined): Promise<unknown> {
  const where = `${ep.upstream.def.name}.${ep.name}`;
  if (ep.def.kind !== 'single') throw new ConfigurationError(`${where}.call: a write call needs a single endpoint (one call per input), but this one is a batch endpoint.`);
  const key = options?.idempotencyKey;
  if (key !== undefined && (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key))) {
    // The key itself is not shown: it names a payment or an order.
    throw new ConfigurationError(
      `${where}.call: idempotencyKey must be 1 to 255 visible ASCII characters, but received ${typeof key === 'string' ? `a string of ${key.length} characters (not shown)` : `a ${typeof key}`}.`,
    );
  }
  const def = ep.def as SingleEndpointDef<unknown, any, unknown>;
  const rt = ep.upstream;
  const spec = def.request(input, { user: ctx.user });
  const call = new Call(ep, ctx, rt.transport.path(spec), spec.body, 1, def.notFoundIsNull === true, key, key === undefined ? undefined : idempotencyKeyHash(key));
  const res = await rt.executor.call(call);
  if (res === NOT_FOUND) return null;
  return def.map(res.body, input);
}
