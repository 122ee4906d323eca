/**
 * Credentials, held centrally: each upstream's definition names its scheme and where its secret
 * lives; only this module reads the secret, and only the upstream's own transport sends it.
 *
 * Secrets are read from `<ENV>` or from the file named by `<ENV>_FILE` (mounted secrets). A file is
 * re-read on `refresh()`, which the engine calls once when an upstream answers 401, so a rotated
 * secret is picked up without a restart. The OAuth2 token source is beside this file
 * (./oauth2-token-source.ts).
 */
import { readFileSync } from 'node:fs';
import { ConfigurationError } from '../errors.js';
import type { Cancel } from './cancel.js';
import type { OAuth2TokenSource, TokenObserver } from './oauth2-token-source.js';
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

/**
 * Headers for one upstream's calls: built once from the secrets for the static schemes (bearer, API
 * key, basic); for OAuth2, the token source's (./oauth2-token-source.ts).
 */
export class CredentialProvider {
  private cached: Record<string, string> | undefined;

  constructor(
    private readonly auth: AuthDef,
    private readonly secrets: SecretSource,
    /** The upstream's token source, for `oauth2ClientCredentials`. */
    private readonly tokens?: OAuth2TokenSource,
  ) {
    if (auth.scheme === 'oauth2ClientCredentials' && !tokens) throw new ConfigurationError('An OAuth2 upstream needs its token source.');
  }

  /** Check at start-up that every secret is present. */
  verify(): void {
    if (this.tokens) this.tokens.verify();
    else this.staticHeaders();
  }

  /**
   * The headers to attach. Synchronous for static schemes; awaits a token for OAuth2, until `signal`
   * (the calling attempt's) aborts. A token fetch is reported to the observer of the call that started
   * it (shared fetches are reported once).
   */
  headers(observer?: TokenObserver, signal?: Cancel): Record<string, string> | Promise<Record<string, string>> {
    return this.tokens ? this.tokens.headers(observer, signal) : this.staticHeaders();
  }

  /**
   * Forget what we hold (secret values and tokens) so the next call reads or fetches them again.
   * Given the headers a refused call used, only if they are still what we hold: when many calls are
   * refused at once (a rotation under load), the first refreshes and the others use its result.
   */
  refresh(used?: Record<string, string>): void {
    if (used) {
      const current = this.tokens ? this.tokens.current : this.cached;
      if (current && Object.keys(current).some((k) => current[k] !== used[k])) return;
    }
    this.cached = undefined;
    this.tokens?.forget();
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
        h = {}; // never reached: the token source answers for OAuth2
        break;
    }
    this.cached = h;
    return h;
  }
}
