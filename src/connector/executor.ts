/**
 * Runs one logical call to one upstream through its policies, composed here in one explicit order:
 *
 *   deadline → retry (budgeted) → hedge → circuit breaker → bulkhead → per-attempt timeout
 *   → credentials (one refresh on 401/403; idempotent calls sent again once) → HTTP → status → JSON
 *   → contract validation
 *
 * The breaker and bulkhead are cockatiel's, shared by every request to the upstream. The retry loop and
 * hedging are written here because they must consult what cockatiel's RetryPolicy cannot see per call:
 * the request's deadline (no wait may pass it), the upstream's retry budget (hedges spend it too), a
 * `Retry-After` header, and the client's abort signal (waits end when the client goes away). Backoff
 * uses cockatiel's full-jitter generator.
 */
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
import { Cancel, delay as wait } from './cancel.js';
import type { CredentialProvider } from './credentials.js';
import type { ResolvedPolicy } from './define.js';
import type { AttemptEvent, BreakerState, Telemetry } from './events.js';
import { LatencyWindow } from './latency-window.js';
import { RetryBudget } from './retry-budget.js';
import { ResponseTooLargeError, type Transport } from './transport.js';
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
  /** GET, or an endpoint that declared itself retry-safe. */
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
  readonly onAttempt?: ((e: AttemptEvent) => void) | undefined;
  /** The GraphQL request this call serves, for the failure log line. */
  readonly requestId?: string | undefined;
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

/** `extensions.reason` of an answer larger than the upstream's `maxResponseBytes`. */
const TOO_LARGE = 'responseTooLarge';

/** @internal An attempt ended because its caller no longer wants it (hedge lost, client gone). Not a failure of the upstream. */
class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

/** Errors that say the upstream is unhealthy (they count against the breaker). */
function countsAgainstBreaker(e: unknown): boolean {
  if (e instanceof CancelledError) return false;
  if (!isUpstreamError(e)) return true;
  // An answer larger than the upstream's declared limit, whatever its status, is the upstream
  // misbehaving (a paging bug, a runaway list): it costs us the bytes up to the limit every time, so
  // when most calls get one the breaker should open and fail fast. An occasional large key stays
  // below the breaker's failure ratio.
  if (e.extensions.reason === TOO_LARGE) return true;
  if (e.code === 'UPSTREAM_TIMEOUT' || e.code === 'UPSTREAM_UNAVAILABLE') return true;
  return e.code === 'UPSTREAM_ERROR' && (e.status === undefined || e.status === 0 || e.status >= 500 || e.status === 429);
}

function parseRetryAfter(v: string | string[] | undefined): number | undefined {
  const s = (Array.isArray(v) ? v[0] : v)?.trim();
  if (!s) return undefined;
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const at = Date.parse(s);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
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
  private readonly latencies = new LatencyWindow();

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
        return await this.hedged(o, attempt);
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
    if (!h || !o.retryable) return undefined;
    let delay = h.delayMs;
    if (delay === undefined) {
      const observed = this.latencies.percentile(h.percentile);
      if (observed === undefined) return undefined; // no history yet: nothing to call slow
      delay = Math.min(h.maxDelayMs, Math.max(h.minDelayMs, observed));
    }
    return performance.now() + delay < o.deadline ? delay : undefined;
  }

  /**
   * One attempt, hedged when the policy says so: if the first has not answered after the hedge delay,
   * a second starts; the first success wins and the other is aborted. A failure waits for the other.
   */
  private hedged(o: CallOptions, attempt: number): Promise<CallResult | typeof NOT_FOUND> {
    const delay = this.hedgeDelay(o);
    if (delay === undefined) return this.guarded(o, attempt, false, undefined);
    return new Promise((resolve, reject) => {
      const controllers: Cancel[] = [];
      let pending = 0;
      let settled = false;
      let hedgeTimer: NodeJS.Timeout | undefined;
      let firstError: unknown;
      const onClientAbort = () => controllers.forEach((c) => c.abort());
      o.signal?.on(onClientAbort);
      const finish = () => {
        settled = true;
        clearTimeout(hedgeTimer);
        o.signal?.off(onClientAbort);
        controllers.forEach((c) => c.abort()); // the loser, if any, is aborted
      };
      const launch = (hedge: boolean) => {
        const ac = new Cancel();
        controllers.push(ac);
        pending++;
        // A settled attempt leaves the list: only attempts still in flight are aborted.
        const done = () => controllers.splice(controllers.indexOf(ac), 1);
        this.guarded(o, attempt, hedge, ac).then(
          (v) => {
            done();
            if (settled) return;
            finish();
            resolve(v);
          },
          (e: unknown) => {
            done();
            pending--;
            if (settled) return;
            if (firstError === undefined || firstError instanceof CancelledError) firstError = e;
            // Keep waiting while the other attempt may still answer; with none left, fail now
            // (a failure before the hedge delay is the retry loop's business, not the hedge's).
            if (pending === 0) {
              finish();
              reject(firstError);
            }
          },
        );
      };
      launch(false);
      const hedgeNow = () => {
        if (settled) return;
        if (pending === 0) {
          finish();
          reject(firstError);
          return;
        }
        if (!this.budget.tryRetry()) {
          // No budget for a hedge: the first attempt carries on alone.
          this.telemetry.emit('retryBudgetExhausted', { upstream: this.upstream, endpoint: o.endpoint });
          return;
        }
        this.telemetry.emit('hedge', { upstream: this.upstream, endpoint: o.endpoint, attempt, delayMs: delay });
        launch(true);
      };
      hedgeTimer = setTimeout(() => {
        hedgeTimer = undefined;
        // Timers run before the event loop reads its sockets. When this process was busy past the
        // delay, the first attempt's answer may already be waiting there: read it first (setImmediate
        // runs after the sockets are read), and hedge only a call still unanswered then. Under load,
        // a second request would otherwise be sent for an answer that had arrived.
        if (!settled) setImmediate(hedgeNow);
      }, delay);
    });
  }

  /**
   * `owner`: the token of a hedged attempt (the hedge aborts it when the other wins or the client
   * goes away); without one, the attempt makes its own and follows the client's.
   */
  private guarded(o: CallOptions, attempt: number, hedge: boolean, owner: Cancel | undefined): Promise<CallResult | typeof NOT_FOUND> {
    const run = () => this.bulkhead.execute(() => this.attempt(o, attempt, hedge, owner, false));
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
    if (e instanceof CancelledError) return new UpstreamUnavailableError(where, 'call was cancelled', { extensions: { reason: 'cancelled' } });
    return new UpstreamUnavailableError({ ...where, status: 0 }, 'is unavailable');
  }

  /**
   * One HTTP attempt under its own timeout, on one cancellation token: the owner's (hedged attempts)
   * or its own, which follows the client's. A 401/403 refreshes the credential, and an idempotent
   * call tries once more with it.
   */
  private async attempt(o: CallOptions, attempt: number, hedge: boolean, owner: Cancel | undefined, refreshed: boolean): Promise<CallResult | typeof NOT_FOUND> {
    const where = { upstream: this.upstream, endpoint: o.endpoint };
    const client = o.signal;
    if (owner?.aborted || client?.aborted) throw new CancelledError();
    const remaining = o.deadline - performance.now();
    if (remaining <= 0) throw new UpstreamTimeoutError(where);
    const budgetMs = Math.min(o.timeoutMs, remaining);
    const ac = owner ?? new Cancel();
    let timedOut = false;
    const attemptEnd = performance.now() + o.timeoutMs;
    const expire = (): void => {
      // The deadline may have moved later while this attempt ran (a request with more time joined a
      // shared call): carry on until the new one, never past the attempt's own timeout. A timer may
      // also fire a fraction of a millisecond early (libuv counts whole ms): an attempt ends at its
      // deadline, not just before, so the retry loop never starts an attempt with nothing left.
      const left = Math.min(attemptEnd, o.deadline) - performance.now();
      if (left > 0) {
        timer = setTimeout(expire, left);
        return;
      }
      timedOut = true;
      ac.abort();
    };
    let timer = setTimeout(expire, budgetMs);
    const onAbort = owner ? undefined : () => ac.abort();
    if (onAbort) client?.on(onAbort);
    const start = performance.now();
    let status = 0;
    let bytes = 0;
    let errorCode: string | undefined;
    let captured: unknown;
    let contractViolation: string | undefined;
    let reported = false;
    try {
      // o carries onAttempt and headers: a token fetch joins this call's trace. The wait for a token
      // ends with this attempt (its timeout, its client, a lost hedge), never later.
      const auth = this.credentials.headers(o, ac);
      const credHeaders = auth instanceof Promise ? await auth : auth;
      const headers: Record<string, string> = { accept: 'application/json', ...o.headers, ...credHeaders };
      if (hedge) headers['x-tributary-hedge'] = '1';
      let payload: string | undefined;
      if (o.body !== undefined) {
        payload = JSON.stringify(o.body);
        headers['content-type'] = 'application/json';
      }
      const res = await this.transport.send(o.method, o.path, headers, payload, ac);
      status = res.status;
      bytes = res.body.length;
      if (status === 401 || status === 403) {
        // The credential may have rotated: forget it (once per call), so the next send uses a fresh one.
        if (!refreshed) this.credentials.refresh(credHeaders);
        // Send again with it only when sending twice is safe: a non-idempotent call (a POST without a
        // safe declaration) is sent exactly once, whatever fails, a refused credential included.
        if (!refreshed && o.retryable) {
          this.report(o, attempt, hedge, start, status, bytes, 'UPSTREAM_UNAUTHORIZED', undefined);
          reported = true;
          clearTimeout(timer);
          // The same token carries on (still following the client); this attempt's finally unlinks it.
          return await this.attempt(o, attempt, hedge, ac, true);
        }
        throw new UpstreamUnauthorizedError({ ...where, status });
      }
      if (status === 404 && o.notFoundIsNull) {
        this.latencies.add(performance.now() - start);
        return NOT_FOUND;
      }
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
        contractViolation = violation;
        this.telemetry.emit('contractViolation', { ...where, path: violation, mode: this.contractMode });
        if (this.contractMode === 'enforce') throw new UpstreamContractViolationError({ ...where, status }, violation);
        // report: pass through what still maps (numbers sent as strings converted back).
        body = o.validator.convert(body);
      }
      this.latencies.add(performance.now() - start);
      return { body, cacheControl: headerString(res.headers['cache-control']) };
    } catch (e) {
      let err: unknown = e;
      if (!isUpstreamError(e) && !(e instanceof CancelledError)) {
        if (e instanceof ResponseTooLargeError) {
          // The upstream did answer: keep its status (and what was read) on the attempt.
          status = e.status;
          bytes = e.received;
          err = new UpstreamHttpError({ ...where, status }, 'answered with a body larger than its limit', undefined, { extensions: { reason: TOO_LARGE } });
        } else if (timedOut) {
          err = new UpstreamTimeoutError(where);
        } else if (ac.aborted || client?.aborted) {
          err = new CancelledError();
        } else {
          err = new UpstreamUnavailableError({ ...where, status: 0 }, 'is unavailable');
        }
      }
      errorCode = err instanceof CancelledError ? 'CANCELLED' : (err as UpstreamError).code;
      throw err;
    } finally {
      clearTimeout(timer);
      if (onAbort) client?.off(onAbort);
      if (!reported) this.report(o, attempt, hedge, start, status, bytes, errorCode, captured, contractViolation);
    }
  }

  private report(o: CallOptions, attempt: number, hedge: boolean, start: number, status: number, bytes: number, error: string | undefined, body: unknown, contractViolation?: string): void {
    const e: AttemptEvent = {
      upstream: this.upstream,
      endpoint: o.endpoint,
      method: o.method,
      path: o.path,
      keys: o.keys,
      attempt,
      hedge,
      breaker: this.breakerState,
      status,
      bytes,
      start,
      durationMs: performance.now() - start,
      error,
      body,
      ...(contractViolation !== undefined ? { contractViolation } : {}),
    };
    o.onAttempt?.(e);
    this.telemetry.emit('attempt', e);
    if (error && error !== 'CANCELLED') {
      this.telemetry.emit('upstreamFailure', { upstream: this.upstream, endpoint: o.endpoint, code: error, status, message: `attempt ${attempt} failed`, attempt, requestId: o.requestId });
    }
  }
}
