/**
 * Runs one logical call to one upstream through its policies, composed here in one explicit order:
 *
 *   deadline → retry (budgeted) → circuit breaker → bulkhead → per-attempt timeout → credentials → HTTP
 *   → status → JSON → contract validation
 *
 * The breaker and bulkhead are cockatiel's, shared by every request to the upstream. The retry loop is
 * written here because it must consult three things cockatiel's RetryPolicy cannot see per call: the
 * request's deadline (no wait may pass it), the upstream's retry budget, and a `Retry-After` header;
 * and its waits must be abortable when the client goes away. Backoff uses cockatiel's full-jitter
 * generator.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CircuitState,
  ExponentialBackoff,
  IsolatedCircuitError,
  SamplingBreaker,
  bulkhead,
  circuitBreaker,
  fullJitterGenerator,
  handleWhen,
  type BulkheadPolicy,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import {
  UpstreamContractViolationError,
  UpstreamError,
  UpstreamHttpError,
  UpstreamTimeoutError,
  UpstreamUnauthorizedError,
  UpstreamUnavailableError,
  isUpstreamError,
} from '../errors.js';
import type { CredentialProvider } from './credentials.js';
import type { ResolvedPolicy } from './define.js';
import type { BreakerState, Telemetry } from './events.js';
import { RetryBudget } from './retry-budget.js';
import { ResponseTooLargeError, type Transport } from './transport.js';
import type { HttpMethod } from './types.js';
import type { Validator } from './validation.js';

/** Returned instead of a body when the endpoint treats 404 as "no such thing". */
export const NOT_FOUND: unique symbol = Symbol('NOT_FOUND');

export interface CallOptions {
  readonly endpoint: string;
  readonly method: HttpMethod;
  readonly path: string;
  readonly body: unknown;
  readonly keys: number;
  /** GET, or an endpoint that declared itself retry-safe. */
  readonly retryable: boolean;
  readonly timeoutMs: number;
  /** performance.now() by which everything must be over. */
  readonly deadline: number;
  readonly signal: AbortSignal | undefined;
  readonly notFoundIsNull: boolean;
  readonly validator: Validator;
  /** Extra headers for this call (trace context). Never credentials: those are added here. */
  readonly headers?: Record<string, string>;
  readonly onAttempt?: ((e: import('./events.js').AttemptEvent) => void) | undefined;
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

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

/** Errors that say the upstream is unhealthy (they count against the breaker). */
function countsAgainstBreaker(e: unknown): boolean {
  if (!isUpstreamError(e)) return true;
  if (e.code === 'UPSTREAM_TIMEOUT' || e.code === 'UPSTREAM_UNAVAILABLE') return true;
  return e.code === 'UPSTREAM_ERROR' && (e.status === undefined || e.status === 0 || e.status >= 500 || e.status === 429);
}

function parseRetryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  if (/^\d+$/.test(s.trim())) return Number(s.trim()) * 1000;
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export class Executor {
  readonly upstream: string;
  private readonly policy: ResolvedPolicy;
  private readonly transport: Transport;
  private readonly credentials: CredentialProvider;
  private readonly telemetry: Telemetry;
  private readonly breaker: CircuitBreakerPolicy | undefined;
  private readonly bulkhead: BulkheadPolicy;
  private readonly budget: RetryBudget;
  private readonly backoff: ExponentialBackoff<number>;
  private readonly contractMode: 'enforce' | 'report';
  private readonly captureBodies: boolean;

  constructor(opts: ExecutorOptions) {
    this.upstream = opts.upstream;
    this.policy = opts.policy;
    this.transport = opts.transport;
    this.credentials = opts.credentials;
    this.telemetry = opts.telemetry;
    this.contractMode = opts.contractMode;
    this.captureBodies = opts.captureBodies ?? false;
    const b = opts.policy.breaker;
    if (b) {
      this.breaker = circuitBreaker(handleWhen(countsAgainstBreaker), {
        halfOpenAfter: b.halfOpenAfterMs,
        breaker: new SamplingBreaker({
          threshold: b.failureRatio,
          duration: b.windowMs,
          minimumRps: b.minimumCalls / (b.windowMs / 1000),
        }),
      });
      this.breaker.onStateChange((s) => this.telemetry.emit('breakerState', { upstream: this.upstream, state: STATE_NAMES[s] }));
    }
    this.bulkhead = bulkhead(opts.policy.maxConcurrency, opts.policy.maxQueue);
    this.budget = new RetryBudget();
    this.backoff = new ExponentialBackoff({
      generator: fullJitterGenerator,
      initialDelay: opts.policy.retry.baseDelayMs,
      maxDelay: opts.policy.retry.maxDelayMs,
    });
  }

  get breakerState(): BreakerState {
    return this.breaker ? STATE_NAMES[this.breaker.state] : 'none';
  }

  /** Run the call with its policies; resolves to the validated body, or NOT_FOUND. */
  async call(o: CallOptions): Promise<unknown> {
    const where = { upstream: this.upstream, endpoint: o.endpoint };
    const maxAttempts = o.retryable ? this.policy.retry.attempts : 1;
    let backoff = this.backoff.next();
    for (let attempt = 1; ; attempt++) {
      if (attempt === 1) this.budget.recordFirst();
      try {
        return await this.guarded(o, attempt);
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
        if (delay > 0) {
          try {
            await sleep(delay, undefined, o.signal ? { signal: o.signal } : undefined);
          } catch {
            throw new UpstreamTimeoutError(where);
          }
        }
      }
    }
  }

  private isRetryable(e: UpstreamError): boolean {
    if (e.code === 'UPSTREAM_TIMEOUT') return true;
    if (e.code === 'UPSTREAM_UNAVAILABLE') return !(e.extensions.reason === 'breaker' || e.extensions.reason === 'bulkhead');
    if (e.code === 'UPSTREAM_ERROR') return e.status === 0 || (e.status !== undefined && this.policy.retry.statuses.has(e.status));
    return false;
  }

  private async guarded(o: CallOptions, attempt: number): Promise<unknown> {
    const run = () => this.bulkhead.execute(() => this.attempt(o, attempt, false));
    return this.breaker ? this.breaker.execute(run) : run();
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
    return new UpstreamUnavailableError({ ...where, status: 0 }, 'is unavailable');
  }

  /** One HTTP attempt under its own timeout. A 401 refreshes the credential and tries once more. */
  private async attempt(o: CallOptions, attempt: number, refreshed: boolean): Promise<unknown> {
    const where = { upstream: this.upstream, endpoint: o.endpoint };
    const remaining = o.deadline - performance.now();
    if (remaining <= 0) throw new UpstreamTimeoutError(where);
    const budgetMs = Math.min(o.timeoutMs, remaining);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), budgetMs);
    const onAbort = () => ac.abort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const start = performance.now();
    let status = 0;
    let bytes = 0;
    let errorCode: string | undefined;
    let captured: unknown;
    let reported = false;
    try {
      const auth = this.credentials.headers();
      const credHeaders = auth instanceof Promise ? await auth : auth;
      const headers: Record<string, string> = { accept: 'application/json', ...o.headers, ...credHeaders };
      let payload: string | undefined;
      if (o.body !== undefined) {
        payload = JSON.stringify(o.body);
        headers['content-type'] = 'application/json';
      }
      const res = await this.transport.send(o.method, o.path, headers, payload, ac.signal);
      status = res.status;
      bytes = res.body.length;
      if (status === 401 || status === 403) {
        if (!refreshed) {
          // The credential may have rotated: forget it, and try once more with a fresh one.
          this.credentials.refresh();
          this.report(o, attempt, start, status, bytes, 'UPSTREAM_UNAUTHORIZED', undefined);
          reported = true;
          clearTimeout(timer);
          o.signal?.removeEventListener('abort', onAbort);
          return await this.attempt(o, attempt, true);
        }
        throw new UpstreamUnauthorizedError({ ...where, status });
      }
      if (status === 404 && o.notFoundIsNull) return NOT_FOUND;
      if (status < 200 || status >= 300) {
        const reason = status >= 300 && status < 400 ? `answered a redirect (${status}), which is not followed` : `answered with status ${status}`;
        throw new UpstreamHttpError({ ...where, status }, reason, parseRetryAfter(res.headers['retry-after']));
      }
      let body: unknown;
      try {
        body = JSON.parse(res.body.toString('utf8'));
      } catch {
        throw new UpstreamHttpError({ ...where, status }, 'answered with a body that is not JSON');
      }
      if (this.captureBodies) captured = body;
      const violation = o.validator(body);
      if (violation !== undefined) {
        this.telemetry.emit('contractViolation', { ...where, path: violation, mode: this.contractMode });
        if (this.contractMode === 'enforce') throw new UpstreamContractViolationError({ ...where, status }, violation);
      }
      return body;
    } catch (e) {
      let err: unknown = e;
      if (!isUpstreamError(e)) {
        if (e instanceof ResponseTooLargeError) {
          err = new UpstreamHttpError({ ...where, status }, 'answered with a body larger than its limit');
        } else if (ac.signal.aborted) {
          err = new UpstreamTimeoutError(where);
        } else {
          err = new UpstreamUnavailableError({ ...where, status: 0 }, 'is unavailable');
        }
      }
      errorCode = (err as UpstreamError).code;
      throw err;
    } finally {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (!reported) this.report(o, attempt, start, status, bytes, errorCode, captured);
    }
  }

  private report(o: CallOptions, attempt: number, start: number, status: number, bytes: number, error: string | undefined, body: unknown): void {
    const e = {
      upstream: this.upstream,
      endpoint: o.endpoint,
      method: o.method,
      path: o.path,
      keys: o.keys,
      attempt,
      hedge: false,
      breaker: this.breakerState,
      status,
      bytes,
      start,
      durationMs: performance.now() - start,
      error,
      body,
    };
    o.onAttempt?.(e);
    this.telemetry.emit('attempt', e);
    if (error) {
      this.telemetry.emit('upstreamFailure', { upstream: this.upstream, endpoint: o.endpoint, code: error, status, message: `attempt ${attempt} failed` });
    }
  }
}
