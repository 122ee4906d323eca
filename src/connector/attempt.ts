/**
 * One HTTP attempt of a call, under its own timeout, on one cancellation token: credentials (one
 * refresh on 401/403; a call that may be sent twice is sent again once), HTTP, status, JSON, contract
 * validation; reported as an `attempt` event whatever its outcome.
 */
import type { CircuitBreakerPolicy } from 'cockatiel';
import {
  UpstreamContractViolationError,
  UpstreamHttpError,
  UpstreamTimeoutError,
  UpstreamUnauthorizedError,
  UpstreamUnavailableError,
  isUpstreamError,
  type UpstreamError,
} from '../errors.js';
import { targetOf, type UpstreamTarget } from './call-trace.js';
import { CancelledError, STATE_NAMES, TOO_LARGE } from './breaker.js';
import { Cancel } from './cancel.js';
import type { CredentialProvider } from './credentials.js';
import { UpstreamRefusedError, readErrorDetail } from './error-detail.js';
import type { AttemptEvent, BreakerState, Telemetry } from './events.js';
import { NOT_FOUND, type CallOptions, type CallResult } from './executor.js';
import type { LatencyWindow } from './latency-window.js';
import { ResponseTooLargeError, type Transport } from './transport.js';

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

/** The optional fields of an attempt event, only those set. */
function extras(contractViolation: string | undefined, idempotencyKeyHash: string | undefined): Partial<AttemptEvent> {
  const x: { contractViolation?: string; idempotencyKeyHash?: string } = {};
  if (contractViolation !== undefined) x.contractViolation = contractViolation;
  if (idempotencyKeyHash !== undefined) x.idempotencyKeyHash = idempotencyKeyHash;
  return x;
}

export interface AttemptSenderOptions {
  readonly upstream: string;
  readonly transport: Transport;
  readonly credentials: CredentialProvider;
  readonly telemetry: Telemetry;
  readonly contractMode: 'enforce' | 'report';
  readonly captureBodies: boolean;
  /** Successful attempts' durations, for adaptive hedging. */
  readonly latencies: LatencyWindow;
  /** Read for each attempt's event. */
  readonly breaker: CircuitBreakerPolicy | undefined;
}

export class AttemptSender {
  private readonly upstream: string;
  private readonly transport: Transport;
  private readonly credentials: CredentialProvider;
  private readonly telemetry: Telemetry;
  private readonly contractMode: 'enforce' | 'report';
  private readonly captureBodies: boolean;
  private readonly latencies: LatencyWindow;
  private readonly breaker: CircuitBreakerPolicy | undefined;
  /** Where the calls go, for each attempt's span. */
  private readonly target: UpstreamTarget;

  constructor(opts: AttemptSenderOptions) {
    this.upstream = opts.upstream;
    this.transport = opts.transport;
    this.credentials = opts.credentials;
    this.telemetry = opts.telemetry;
    this.contractMode = opts.contractMode;
    this.captureBodies = opts.captureBodies;
    this.latencies = opts.latencies;
    this.breaker = opts.breaker;
    this.target = targetOf(opts.upstream, opts.transport.origin);
  }

  get breakerState(): BreakerState {
    return this.breaker ? STATE_NAMES[this.breaker.state] : 'none';
  }

  /**
   * `owner`: the token of a hedged attempt (the hedge aborts it when the other wins or the client
   * goes away); without one, the attempt makes its own and follows the client's.
   */
  async send(o: CallOptions, attempt: number, hedge: boolean, owner: Cancel | undefined, refreshed: boolean): Promise<CallResult | typeof NOT_FOUND> {
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
    let span: unknown;
    try {
      // o carries onAttempt and headers: a token fetch joins this call's trace. The wait for a token
      // ends with this attempt (its timeout, its client, a lost hedge), never later.
      const auth = this.credentials.headers(o, ac);
      const credHeaders = auth instanceof Promise ? await auth : auth;
      // With a trace, the attempt gets its own span and its headers name it; else the request's are sent.
      const headers: Record<string, string> = o.trace ? { accept: 'application/json', ...credHeaders } : { accept: 'application/json', ...o.headers, ...credHeaders };
      if (o.trace) span = o.trace.begin(headers, this.target, o.endpoint, o.method, o.path, attempt, hedge);
      if (hedge) headers['x-tributary-hedge'] = '1';
      if (o.idempotencyKey !== undefined) headers['idempotency-key'] = o.idempotencyKey;
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
        // safe declaration or an idempotency key) is sent exactly once, whatever fails, a refused
        // credential included.
        if (!refreshed && o.retryable) {
          this.report(o, attempt, hedge, start, status, bytes, 'UPSTREAM_UNAUTHORIZED', undefined, undefined, span);
          reported = true;
          clearTimeout(timer);
          // The same token carries on (still following the client); this attempt's finally unlinks it.
          return await this.send(o, attempt, hedge, ac, true);
        }
        throw new UpstreamUnauthorizedError({ ...where, status });
      }
      if (status === 404 && o.notFoundIsNull) {
        this.latencies.add(performance.now() - start);
        return NOT_FOUND;
      }
      if (status < 200 || status >= 300) {
        // A refusal the endpoint declares how to read (writes): its status and a small validated detail.
        if (o.errorDetail !== undefined && status >= 400 && status < 500) throw new UpstreamRefusedError({ ...where, status }, readErrorDetail(o.errorDetail, res.body, status));
        const reason = status >= 300 && status < 400 ? `answered a redirect (${status}), which is not followed` : `answered with status ${status}`;
        throw new UpstreamHttpError({ ...where, status }, reason, parseRetryAfter(res.headers['retry-after']));
      }
      let body: unknown;
      try {
        // 204 No Content (a DELETE, say) has no body by definition: it answers null, checked like any body.
        body = status === 204 ? null : JSON.parse(res.body.toString('utf8'));
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
      if (!reported) this.report(o, attempt, hedge, start, status, bytes, errorCode, captured, contractViolation, span);
    }
  }

  private report(o: CallOptions, attempt: number, hedge: boolean, start: number, status: number, bytes: number, error: string | undefined, body: unknown, contractViolation?: string, span?: unknown): void {
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
      // Spreading undefined allocates nothing: most attempts have neither.
      ...(contractViolation === undefined && o.idempotencyKeyHash === undefined ? undefined : extras(contractViolation, o.idempotencyKeyHash)),
    };
    o.onAttempt?.(e);
    if (span !== undefined) o.trace?.end(span, e);
    this.telemetry.emit('attempt', e);
    if (error && error !== 'CANCELLED') {
      this.telemetry.emit('upstreamFailure', { upstream: this.upstream, endpoint: o.endpoint, code: error, status, message: `attempt ${attempt} failed`, attempt, requestId: o.requestId });
    }
  }
}
