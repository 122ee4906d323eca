/**
 * The OAuth2 client-credentials token source of one upstream: fetches a token from the upstream's
 * token endpoint (on its own transport, so the token goes only to the upstream's origin), holds it,
 * and fetches the next before it expires.
 *
 * The fetch is shared (single flight: concurrent callers share one token request) and bounds itself:
 * each caller waits for it only until its own signal (its attempt's timeout or deadline, its client);
 * the fetch runs on under its own timeout whoever leaves, so a retry or the next request joins it
 * instead of starting another (a token endpoint slower than one attempt's timeout still yields a token).
 */
import { UpstreamError, UpstreamHttpError, UpstreamTimeoutError, UpstreamUnauthorizedError, UpstreamUnavailableError } from '../errors.js';
import { Cancel } from './cancel.js';
import { assertHeaderSafe, type SecretSource } from './credentials.js';
import type { AttemptEvent, Telemetry } from './events.js';
import { Flight, type LeaveErrors } from './flight.js';
import type { Transport } from './transport.js';
import { targetOf, type UpstreamTrace } from './call-trace.js';
import type { AuthDef } from './types.js';

/**
 * A token fetch's own limit, ms. It is shared and outlives its callers (a retry, or the next request,
 * joins it); each call waiting for it gives up at its own attempt's timeout or deadline.
 */
const TOKEN_FETCH_TIMEOUT_MS = 5_000;

/** Who triggered a token fetch: its trace (the fetch is reported as one of its attempts) and trace-context headers. */
export interface TokenObserver {
  readonly onAttempt?: ((e: AttemptEvent) => void) | undefined;
  readonly headers?: Record<string, string> | undefined;
  /** The fetch's own span and trace headers (replacing `headers`'), as for any attempt. */
  readonly trace?: UpstreamTrace | undefined;
}

/**
 * What a call stops waiting for a token with. Only a marker: the call's own attempt aborted the wait
 * (its timeout or its client), and the executor names the error from its own state.
 */
const TOKEN_WAIT: LeaveErrors = {
  timeout: () => new DOMException('the wait for a token timed out', 'TimeoutError'),
  cancelled: () => new DOMException('the wait for a token was aborted', 'AbortError'),
};

export interface OAuth2TokenSourceOptions {
  readonly upstream: string;
  readonly auth: Extract<AuthDef, { scheme: 'oauth2ClientCredentials' }>;
  readonly secrets: SecretSource;
  readonly transport: Transport;
  readonly telemetry: Telemetry;
  /** Wall clock (epoch ms) for the token's lifetime. */
  readonly now: () => number;
}

/**
 * @example
 * const tokens = new OAuth2TokenSource({ upstream: 'shipping', auth, secrets, transport, telemetry, now: Date.now });
 * const headers = await tokens.headers(observer, attemptSignal); // { authorization: 'Bearer …' }
 */
export class OAuth2TokenSource {
  private token: { readonly value: string; readonly refreshAt: number; readonly headers: Record<string, string> } | undefined;
  private inflight: Flight<Record<string, string>> | undefined;

  constructor(private readonly opts: OAuth2TokenSourceOptions) {}

  /** Check at start-up that the client id and secret are present. */
  verify(): void {
    this.opts.secrets.read(this.opts.auth.clientId);
    this.opts.secrets.read(this.opts.auth.clientSecret);
  }

  /** The headers of the token held, or of the one fetched for it, until `signal` (the calling attempt's) aborts. */
  headers(observer: TokenObserver | undefined, signal: Cancel | undefined): Record<string, string> | Promise<Record<string, string>> {
    const t = this.token;
    if (t && this.opts.now() < t.refreshAt) return t.headers;
    return this.fetch(observer, signal);
  }

  /** The headers of the token held now, if any (to tell whether a refused call used it). */
  get current(): Record<string, string> | undefined {
    return this.token?.headers;
  }

  /** Forget the token: the next call fetches another. */
  forget(): void {
    this.token = undefined;
  }

  private fetch(observer: TokenObserver | undefined, signal: Cancel | undefined): Promise<Record<string, string>> {
    let flight = this.inflight;
    if (!flight) {
      // Background: never abandoned by its callers; the fetch's own timeout bounds it.
      const f = new Flight<Record<string, string>>({
        deadline: Infinity,
        background: true,
        onEnd: () => {
          if (this.inflight === f) this.inflight = undefined;
        },
      });
      this.inflight = flight = f;
      f.run(async () => {
        const { secrets, auth, now } = this.opts;
        const { accessToken, expiresInS } = await this.request(secrets.read(auth.clientId), secrets.read(auth.clientSecret), observer);
        assertHeaderSafe('the OAuth2 access token', accessToken);
        // Refresh early: at 80% of the lifetime, and at least 5 s before expiry.
        const lifeMs = Math.max(0, expiresInS * 1000);
        const refreshAt = now() + Math.max(0, Math.min(lifeMs * 0.8, lifeMs - 5_000));
        const headers = { authorization: `Bearer ${accessToken}` };
        this.token = { value: accessToken, refreshAt, headers };
        return headers;
      });
    }
    return flight.join(Infinity, signal, TOKEN_WAIT).then((o) => {
      if (o.ok) return o.value;
      throw o.error;
    });
  }

  /**
   * One token request. It is an upstream call like any other for telemetry (an `attempt` event,
   * endpoint `oauthToken`, never with its body) and for the trace of the request that started it.
   */
  private async request(clientId: string, clientSecret: string, observer: TokenObserver | undefined): Promise<{ accessToken: string; expiresInS: number }> {
    const { upstream, transport, telemetry, auth } = this.opts;
    const where = { upstream, endpoint: 'oauthToken' };
    const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
    const ac = new Cancel();
    const t = setTimeout(() => ac.abort(), TOKEN_FETCH_TIMEOUT_MS);
    const path = transport.path({ path: auth.tokenPath });
    const start = performance.now();
    let status = 0;
    let bytes = 0;
    let errorCode: string | undefined;
    let span: unknown;
    try {
      const trace = observer?.trace;
      const headers: Record<string, string> = trace ? {} : { ...observer?.headers };
      if (trace) span = trace.begin(headers, targetOf(upstream, transport.origin), 'oauthToken', 'POST', path, 1, false);
      headers.authorization = `Basic ${basic}`;
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.accept = 'application/json';
      const res = await transport.send(
        'POST',
        path,
        headers,
        'grant_type=client_credentials',
        ac,
      );
      status = res.status;
      bytes = res.body.length;
      if (res.status === 400 || res.status === 401 || res.status === 403) throw new UpstreamUnauthorizedError({ ...where, status: res.status });
      if (res.status !== 200) throw new UpstreamHttpError({ ...where, status: res.status }, `token endpoint answered with status ${res.status}`);
      let body: { access_token?: unknown; expires_in?: unknown };
      try {
        body = JSON.parse(res.body.toString('utf8')) as typeof body;
      } catch {
        throw new UpstreamHttpError({ ...where, status: res.status }, 'token endpoint answered with a body that is not JSON');
      }
      if (typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') {
        throw new UpstreamHttpError({ ...where, status: res.status }, 'token endpoint answered an unexpected shape');
      }
      return { accessToken: body.access_token, expiresInS: body.expires_in };
    } catch (e) {
      const err = e instanceof UpstreamError ? e : ac.aborted ? new UpstreamTimeoutError(where) : new UpstreamUnavailableError({ ...where, status: 0 }, 'is unavailable');
      errorCode = err.code;
      throw err;
    } finally {
      clearTimeout(t);
      const event: AttemptEvent = { ...where, method: 'POST', path, keys: 0, attempt: 1, hedge: false, breaker: 'none', status, bytes, start, durationMs: performance.now() - start, error: errorCode };
      observer?.onAttempt?.(event);
      if (span !== undefined) observer?.trace?.end(span, event);
      telemetry.emit('attempt', event);
    }
  }
}
