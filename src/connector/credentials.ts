/**
 * Credentials, held centrally: each upstream's definition names its scheme and where its secret
 * lives; only this module reads the secret, and only the upstream's own transport sends it.
 *
 * Secrets are read from `<ENV>` or from the file named by `<ENV>_FILE` (mounted secrets). A file is
 * re-read on `refresh()`, which the engine calls once when an upstream answers 401, so a rotated
 * secret is picked up without a restart.
 */
import { readFileSync } from 'node:fs';
import { ConfigurationError } from '../errors.js';
import type { Cancel } from './cancel.js';
import type { AttemptEvent } from './events.js';
import { Flight, type LeaveErrors } from './flight.js';
import type { AuthDef, SecretRef } from './types.js';

export interface SecretSourceOptions {
  readonly env: NodeJS.ProcessEnv;
  /** Sandbox mode: an unset secret falls back to the definition's `sandboxDefault`. */
  readonly allowSandboxDefaults: boolean;
}

/** Reads secrets; never logs or returns them anywhere but to the caller. */
export class SecretSource {
  constructor(private readonly opts: SecretSourceOptions) {}

  read(ref: SecretRef): string {
    const { env } = this.opts;
    const file = env[`${ref.env}_FILE`];
    let value: string | undefined;
    if (file) {
      try {
        value = readFileSync(file, 'utf8').trim();
      } catch (e) {
        throw new ConfigurationError(`${ref.env}_FILE names a file that cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}).`);
      }
    } else {
      value = env[ref.env];
    }
    if (!value && this.opts.allowSandboxDefaults) value = ref.sandboxDefault;
    if (!value) throw new ConfigurationError(`The secret ${ref.env} is not set (set ${ref.env} or ${ref.env}_FILE).`);
    assertHeaderSafe(ref.env, value);
    return value;
  }

  /** Every secret value currently configured for these refs (for redaction and canary checks). */
  describe(ref: SecretRef): string {
    return this.opts.env[`${ref.env}_FILE`] ? `${ref.env}_FILE` : ref.env;
  }
}

/** A header value with CR, LF or NUL would split the request: refuse it, naming only the variable. */
export function assertHeaderSafe(name: string, value: string): void {
  if (/[\r\n\0]/.test(value)) throw new ConfigurationError(`${name} contains a line break or NUL, which no header value may hold.`);
}

/** Who triggered a token fetch: its trace (the fetch is reported as one of its attempts) and trace-context headers. */
export interface TokenObserver {
  readonly onAttempt?: ((e: AttemptEvent) => void) | undefined;
  readonly headers?: Record<string, string> | undefined;
}

/**
 * Fetches an OAuth2 token; provided by the transport so the token goes only to the upstream's origin.
 * It bounds itself (its own timeout): no one caller's deadline or signal applies to a shared fetch.
 */
export type TokenFetcher = (
  tokenPath: string,
  clientId: string,
  clientSecret: string,
  observer?: TokenObserver,
) => Promise<{ accessToken: string; expiresInS: number }>;

/**
 * What a call stops waiting for a token with. Only a marker: the call's own attempt aborted the wait
 * (its timeout or its client), and the executor names the error from its own state.
 */
const TOKEN_WAIT: LeaveErrors = {
  timeout: () => new DOMException('the wait for a token timed out', 'TimeoutError'),
  cancelled: () => new DOMException('the wait for a token was aborted', 'AbortError'),
};

/**
 * Headers for one upstream's calls. For OAuth2 the token is fetched once, shared by every request,
 * and refreshed before it expires (single flight: concurrent callers share one token request). Each
 * caller waits for a shared fetch only until its own signal (its attempt's timeout or deadline, its
 * client); the fetch itself runs on under its own timeout, whoever leaves, so that a retry or the next
 * request joins it instead of starting another (a token endpoint slower than one attempt's timeout
 * still yields a token).
 */
export class CredentialProvider {
  private cached: Record<string, string> | undefined;
  private token: { value: string; refreshAt: number } | undefined;
  private inflight: Flight<string> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly auth: AuthDef,
    private readonly secrets: SecretSource,
    private readonly fetchToken: TokenFetcher,
    now: () => number = Date.now,
  ) {
    this.now = now;
  }

  /** Check at start-up that every secret is present. */
  verify(): void {
    this.staticHeaders();
  }

  /**
   * The headers to attach. Synchronous for static schemes; awaits a token for OAuth2, until `signal`
   * (the calling attempt's) aborts. A token fetch is reported to the observer of the call that started
   * it (shared fetches are reported once).
   */
  headers(observer?: TokenObserver, signal?: Cancel): Record<string, string> | Promise<Record<string, string>> {
    if (this.auth.scheme !== 'oauth2ClientCredentials') return this.staticHeaders();
    const t = this.token;
    if (t && this.now() < t.refreshAt) return { authorization: `Bearer ${t.value}` };
    return this.fetch(observer, signal).then((value) => ({ authorization: `Bearer ${value}` }));
  }

  /**
   * Forget what we hold (secret values and tokens) so the next call reads or fetches them again.
   * Given the headers a refused call used, only if they are still what we hold: when many calls are
   * refused at once (a rotation under load), the first refreshes and the others use its result.
   */
  refresh(used?: Record<string, string>): void {
    if (used) {
      const current = this.auth.scheme === 'oauth2ClientCredentials' ? (this.token ? { authorization: `Bearer ${this.token.value}` } : undefined) : this.cached;
      if (current && Object.keys(current).some((k) => current[k] !== used[k])) return;
    }
    this.cached = undefined;
    this.token = undefined;
  }

  private staticHeaders(): Record<string, string> {
    if (this.cached) return this.cached;
    const a = this.auth;
    let h: Record<string, string>;
    switch (a.scheme) {
      case 'none':
        h = {};
        break;
      case 'bearer':
        h = { authorization: `Bearer ${this.secrets.read(a.token)}` };
        break;
      case 'apiKey':
        h = { [a.header.toLowerCase()]: this.secrets.read(a.key) };
        break;
      case 'basic': {
        const pair = `${this.secrets.read(a.username)}:${this.secrets.read(a.password)}`;
        h = { authorization: `Basic ${Buffer.from(pair).toString('base64')}` };
        break;
      }
      case 'oauth2ClientCredentials':
        // Only the client id/secret are static; they are checked here and used by fetch().
        this.secrets.read(a.clientId);
        this.secrets.read(a.clientSecret);
        h = {};
        break;
    }
    this.cached = h;
    return h;
  }

  private fetch(observer: TokenObserver | undefined, signal: Cancel | undefined): Promise<string> {
    let flight = this.inflight;
    if (!flight) {
      const a = this.auth as Extract<AuthDef, { scheme: 'oauth2ClientCredentials' }>;
      // Background: never abandoned by its callers; the fetcher's own timeout bounds it.
      const f = new Flight<string>({
        deadline: Infinity,
        background: true,
        onEnd: () => {
          if (this.inflight === f) this.inflight = undefined;
        },
      });
      this.inflight = flight = f;
      f.run(async () => {
        const { accessToken, expiresInS } = await this.fetchToken(a.tokenPath, this.secrets.read(a.clientId), this.secrets.read(a.clientSecret), observer);
        assertHeaderSafe('the OAuth2 access token', accessToken);
        // Refresh early: at 80% of the lifetime, and at least 5 s before expiry.
        const lifeMs = Math.max(0, expiresInS * 1000);
        const refreshAt = this.now() + Math.max(0, Math.min(lifeMs * 0.8, lifeMs - 5_000));
        this.token = { value: accessToken, refreshAt };
        return accessToken;
      });
    }
    return flight.join(Infinity, signal, TOKEN_WAIT).then((o) => {
      if (o.ok) return o.value;
      throw o.error;
    });
  }
}
