/**
 * One call to an upstream for some keys, through its executor (the policies): a batch endpoint's call
 * for its keys, a single endpoint's call for its one key, or a write call (./write-call.ts). Builds the
 * request from the definition and maps the validated answer to our values, one per key.
 */
import { emptyValues, valuesByKey } from './batch-mapping.js';
import type { UpstreamTrace } from './call-trace.js';
import type { Cancel } from './cancel.js';
import type { ErrorDetailReader } from './error-detail.js';
import type { AttemptEvent } from './events.js';
import { NOT_FOUND, type CallOptions } from './executor.js';
import type { EndpointRuntime } from './registry.js';
import type { BatchEndpointDef, CallContext, SingleEndpointDef } from './types.js';
import type { Validator } from './validation.js';

/** What one upstream call needs from its request (or from a background refresh). A RequestScope is one. */
export interface FetchContext {
  /** The GraphQL request the call serves (for a background refresh, the request that started it). */
  readonly requestId: string | undefined;
  readonly user: { readonly id: string } | null;
  /** performance.now() by which the call must be over; a shared call's moves later as requests join it. */
  readonly deadline: number;
  readonly signal: Cancel | undefined;
  /** Request-level trace headers (a token fetch's); attempts with `trace` get their own instead. */
  readonly propagate: Record<string, string> | undefined;
  /** Each attempt's own span and trace headers. */
  readonly trace: UpstreamTrace | undefined;
  readonly onAttempt: ((e: AttemptEvent) => void) | undefined;
}

/** Values of the keys of one call, in key order, and the upstream's Cache-Control (for the cache to honour). */
export interface FetchResult {
  readonly values: unknown[];
  readonly cacheControl: string | undefined;
}

/**
 * One logical call's options for the executor. A class, not an object literal with a getter: every
 * call has the same shape, and the deadline is read through the context at each use (a shared
 * call's moves later as requests join it).
 */
export class Call implements CallOptions {
  readonly endpoint: string;
  readonly retryable: boolean;
  readonly timeoutMs: number;
  readonly signal: Cancel | undefined;
  readonly validator: Validator;
  readonly headers: Record<string, string> | undefined;
  readonly trace: UpstreamTrace | undefined;
  readonly onAttempt: ((e: AttemptEvent) => void) | undefined;
  readonly requestId: string | undefined;
  readonly method: EndpointRuntime['def']['method'];
  readonly errorDetail: ErrorDetailReader | undefined;

  constructor(
    ep: EndpointRuntime,
    private readonly ctx: FetchContext,
    readonly path: string,
    readonly body: unknown,
    readonly keys: number,
    readonly notFoundIsNull: boolean,
    /** Write calls only: sent as `Idempotency-Key`, which makes the call retry-safe. */
    readonly idempotencyKey: string | undefined,
    /** Write calls only: what traces and telemetry show instead of the key. */
    readonly idempotencyKeyHash: string | undefined,
  ) {
    this.endpoint = ep.name;
    this.retryable = ep.retryable || idempotencyKey !== undefined;
    this.timeoutMs = ep.timeoutMs;
    this.signal = ctx.signal;
    this.validator = ep.validator;
    this.headers = ctx.propagate;
    this.trace = ctx.trace;
    this.onAttempt = ctx.onAttempt;
    this.requestId = ctx.requestId;
    this.method = ep.def.method;
    this.errorDetail = ep.errorDetail;
  }

  get deadline(): number {
    return this.ctx.deadline;
  }
}

/** @internal One upstream call (batch) or one call per key (single), through the executor's policies. */
export async function fetchKeys(ep: EndpointRuntime, keys: readonly unknown[], ctx: FetchContext): Promise<FetchResult> {
  const rt = ep.upstream;
  const callCtx: CallContext = { user: ctx.user };
  if (ep.def.kind === 'batch') {
    const def = ep.def as BatchEndpointDef<unknown, any, unknown, unknown, 'one' | 'many'>;
    const spec = def.request(keys, callCtx);
    const res = await rt.executor.call(new Call(ep, ctx, rt.transport.path(spec), spec.body, keys.length, false, undefined, undefined));
    if (res === NOT_FOUND) return { values: emptyValues(def, keys), cacheControl: undefined };
    return { values: valuesByKey(def, ep.keyId, keys, def.items(res.body)), cacheControl: res.cacheControl };
  }
  const def = ep.def as SingleEndpointDef<unknown, any, unknown>;
  const key = keys[0];
  const spec = def.request(key, callCtx);
  const res = await rt.executor.call(new Call(ep, ctx, rt.transport.path(spec), spec.body, 1, def.notFoundIsNull === true, undefined, undefined));
  if (res === NOT_FOUND) return { values: [null], cacheControl: undefined };
  return { values: [def.map(res.body, key)], cacheControl: res.cacheControl };
}
