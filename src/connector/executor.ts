/**
 * Runs one logical call to one upstream through its policies, composed here in one explicit order:
 *
 *   deadline → retry (budgeted) → hedge → circuit breaker → bulkhead → per-attempt timeout
 *   → credentials (one refresh on 401/403; idempotent calls sent again once) → HTTP → status → JSON
 *   → contract validation
 *
 * The breaker (./breaker.ts) and bulkhead are cockatiel's, shared by every request to the upstream.
 * The retry loop (here) and hedging (./hedge.ts) are written by hand because they must consult what
 * cockatiel's RetryPolicy cannot see per call: the request's deadline (no wait may pass it), the
 * upstream's retry budget (hedges spend it too), a `Retry-After` header, and the client's abort signal
 * (waits end when the client goes away). Backoff uses cockatiel's full-jitter generator. One HTTP
 * attempt is ./attempt.ts.
 */
import type { UpstreamTrace } from './call-trace.js';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  ExponentialBackoff,
  IsolatedCircuitError,
  bulkhead,
  fullJitterGenerator,
  type BulkheadPolicy,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { UpstreamHttpError, UpstreamUnavailableError, isUpstreamError, type UpstreamError } from '../errors.js';
import { AttemptSender } from './attempt.js';
import { CancelledError, STATE_NAMES, TOO_LARGE, createBreaker } from './breaker.js';
import { delay as wait, type Cancel } from './cancel.js';
import type { CredentialProvider } from './credentials.js';
import type { ResolvedPolicy } from './define.js';
import type { ErrorDetailReader } from './error-detail.js';
import type { AttemptEvent, BreakerState, Telemetry } from './events.js';
import { hedged, type HedgeHost } from './hedge.js';
import { LatencyWindow } from './latency-window.js';
import { RetryBudget } from './retry-budget.js';
import type { Transport } from './transport.js';
import type { HttpMethod } from './types.js';
import type { Validator } from './validation.js';

/** Returned instead of a body when the endpoint treats 404 as "no such thing". */
export const NOT_FOUND: unique symbol = Symbol('NOT_FOUND');

/** A successful call: the validated body, and the upstream's Cache-Control (for the cache to honour). */
export interface CallResult {
  readonly body: unknown;
  readonly cacheControl: string | undefined;
}

export interface CallOptions {
  readonly endpoint: string;
  readonly method: HttpMethod;
  readonly path: string;
  readonly body: unknown;
  readonly keys: number;
  /** GET, an endpoint that declared itself retry-safe, or a write call with an idempotency key. */
  readonly retryable: boolean;
  readonly timeoutMs: number;
  /**
   * performance.now() by which everything must be over. Read at each use, never copied: a call shared
   * by several requests (coalescing) has the latest of their deadlines, which moves as they join.
   */
  readonly deadline: number;
  /** The caller's token: its client went away, or (a shared call) every request waiting for it did. */
  readonly signal: Cancel | undefined;
  readonly notFoundIsNull: boolean;
  readonly validator: Validator;
  /** Extra headers for this call (trace context). Never credentials: those are added here. */
  readonly headers?: Record<string, string> | undefined;
  /** Each attempt's own span: its trace headers replace `headers`' (./call-trace.ts). */
  readonly trace?: UpstreamTrace | undefined;
  readonly onAttempt?: ((e: AttemptEvent) => void) | undefined;
  /** The GraphQL request this call serves, for the failure log line. */
  readonly requestId?: string | undefined;
  /** Write calls: sent as `Idempotency-Key`; such a call is never hedged (two attempts would race for the key). */
  readonly idempotencyKey?: string | undefined;
  /** Write calls: what attempt events carry instead of the key. */
  readonly idempotencyKeyHash?: string | undefined;
  /** The endpoint's reader of a refusal's detail (4xx), when it declares one. */
  readonly errorDetail?: ErrorDetailReader | undefined;
}

export interface ExecutorOptions {
  readonly upstream: string;
  readonly policy: ResolvedPolicy;
  readonly transport: Transport;
  readonly credentials: CredentialProvider;
  readonly telemetry: Telemetry;
  readonly contractMode: 'enforce' | 'report';
  readonly captureBodies?: boolean;
}

export class Executor implements HedgeHost {
  readonly upstream: string;
  readonly telemetry: Telemetry;
  readonly budget: RetryBudget;
  private readonly policy: ResolvedPolicy;
  private readonly breaker: CircuitBreakerPolicy | undefined;
  private readonly bulkhead: BulkheadPolicy;
  private readonly backoff: ExponentialBackoff<number>;
  private readonly latencies = new LatencyWindow();
  private readonly attempts: AttemptSender;

  constructor(opts: ExecutorOptions) {
    this.upstream = opts.upstream;
    this.policy = opts.policy;
    this.telemetry = opts.telemetry;
    this.breaker = createBreaker(opts.policy.breaker);
    this.breaker?.onStateChange((s) => this.telemetry.emit('breakerState', { upstream: this.upstream, state: STATE_NAMES[s] }));
    this.bulkhead = bulkhead(opts.policy.maxConcurrency, opts.policy.maxQueue);
    this.budget = new RetryBudget();
    this.backoff = new ExponentialBackoff({
      generator: fullJitterGenerator,
      initialDelay: opts.policy.retry.baseDelayMs,
      maxDelay: opts.policy.retry.maxDelayMs,
    });
    this.attempts = new AttemptSender({
      upstream: opts.upstream,
      transport: opts.transport,
      credentials: opts.credentials,
      telemetry: opts.telemetry,
      contractMode: opts.contractMode,
      captureBodies: opts.captureBodies ?? false,
      latencies: this.latencies,
      breaker: this.breaker,
    });
  }

  get breakerState(): BreakerState {
    return this.attempts.breakerState;
  }

  /** Calls in flight and queued at the bulkhead (for readiness and tests). */
  get load(): { executing: number; queued: number } {
    return { executing: this.policy.maxConcurrency - this.bulkhead.executionSlots, queued: this.policy.maxQueue - this.bulkhead.queueSlots };
  }

  /** Run the call with its policies; resolves to the validated body, or NOT_FOUND. */
  async call(o: CallOptions): Promise<CallResult | typeof NOT_FOUND> {
    const where = { upstream: this.upstream, endpoint: o.endpoint };
    const maxAttempts = o.retryable ? this.policy.retry.attempts : 1;
    let backoff = this.backoff.next();
    this.budget.recordFirst();
    for (let attempt = 1; ; attempt++) {
      try {
        const hedgeAfter = this.hedgeDelay(o);
        return await (hedgeAfter === undefined ? this.guarded(o, attempt, false, undefined) : hedged(this, o, attempt, hedgeAfter));
      } catch (e) {
        const err = this.toUpstreamError(e, o);
        if (attempt >= maxAttempts || !this.isRetryable(err) || o.signal?.aborted) throw err;
        const retryAfter = err instanceof UpstreamHttpError ? err.retryAfterMs : undefined;
        if (retryAfter !== undefined && retryAfter > this.policy.retry.maxRetryAfterMs) throw err;
        const delay = retryAfter ?? backoff.duration;
        backoff = backoff.next(undefined);
        // Never wait past the deadline: a retry that cannot finish in time is not worth starting.
        if (performance.now() + delay >= o.deadline) throw err;
        if (!this.budget.tryRetry()) {
          this.telemetry.emit('retryBudgetExhausted', where);
          throw err;
        }
        this.telemetry.emit('retry', { ...where, attempt: attempt + 1, delayMs: delay, reason: err.code });
        // The client going away while we wait ends the wait with this error.
        if (delay > 0) await wait(delay, o.signal, () => err);
      }
    }
  }

  /** @internal one attempt under the breaker and bulkhead (a hedge runs two). */
  guarded(o: CallOptions, attempt: number, hedge: boolean, owner: Cancel | undefined): Promise<CallResult | typeof NOT_FOUND> {
    const run = () => this.bulkhead.execute(() => this.attempts.send(o, attempt, hedge, owner, false));
    return this.breaker ? this.breaker.execute(run) : run();
  }

  private isRetryable(e: UpstreamError): boolean {
    if (e.code === 'UPSTREAM_TIMEOUT') return true;
    if (e.extensions.reason === TOO_LARGE) return false; // it would be as large again
    if (e.code === 'UPSTREAM_UNAVAILABLE') return !(e.extensions.reason === 'breaker' || e.extensions.reason === 'bulkhead');
    if (e.code === 'UPSTREAM_ERROR') return e.status === 0 || (e.status !== undefined && this.policy.retry.statuses.has(e.status));
    return false;
  }

  /** Delay before hedging this call, or undefined when it must not be hedged. */
  private hedgeDelay(o: CallOptions): number | undefined {
    const h = this.policy.hedge;
    if (!h || !o.retryable || o.idempotencyKey !== undefined) return undefined;
    let delay = h.delayMs;
    if (delay === undefined) {
      const observed = this.latencies.percentile(h.percentile);
      if (observed === undefined) return undefined; // no history yet: nothing to call slow
      delay = Math.min(h.maxDelayMs, Math.max(h.minDelayMs, observed));
    }
    return performance.now() + delay < o.deadline ? delay : undefined;
  }

  private toUpstreamError(e: unknown, o: CallOptions): UpstreamError {
    const where = { upstream: this.upstream, endpoint: o.endpoint };
    if (isUpstreamError(e)) return e;
    if (e instanceof BrokenCircuitError || e instanceof IsolatedCircuitError) {
      return new UpstreamUnavailableError(where, 'is unavailable (circuit open)', { extensions: { reason: 'breaker' } });
    }
    if (e instanceof BulkheadRejectedError) {
      this.telemetry.emit('bulkheadRejected', where);
      return new UpstreamUnavailableError(where, 'is overloaded (too many calls in flight)', { extensions: { reason: 'bulkhead' } });
    }
    if (e instanceof CancelledError) return new UpstreamUnavailableError(where, 'call was cancelled', { extensions: { reason: 'cancelled' } });
    return new UpstreamUnavailableError({ ...where, status: 0 }, 'is unavailable');
  }
}
