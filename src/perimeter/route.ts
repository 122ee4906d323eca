/**
 * What an upstream definition says about where it calls and with which credential, derived from the
 * definition itself: the route of each endpoint (from its own request builder) and the credential's
 * scheme and variable names (never a value).
 */
import type { AnyEndpointDef, AuthDef, SecretRef, UpstreamDef } from '../connector/index.js';

/** A key that can stand in for any key: every property and call returns itself, it prints as "0". */
const PROBE: unknown = new Proxy(function probe() {}, {
  get: (_t, p) => (p === Symbol.toPrimitive ? () => '0' : p === 'length' ? 0 : p === Symbol.iterator ? undefined : PROBE),
  apply: () => PROBE,
});

/**
 * The route an endpoint calls, derived from its own `request` builder with a probe key (paths are
 * templates such as `/products/:id`), as `{ method, path }` with OpenAPI-style `{param}` segments.
 * Undefined when the builder cannot be run without a real key.
 */
export function endpointRoute(ep: AnyEndpointDef): { method: string; path: string } | undefined {
  try {
    const spec = (ep.request as (k: unknown, ctx: unknown) => { path?: unknown })(PROBE, { user: null });
    if (typeof spec?.path !== 'string') return undefined;
    return { method: ep.method.toUpperCase(), path: spec.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}') };
  } catch {
    return undefined;
  }
}

/** An upstream's credential: its scheme and the names of the variables it is read from. */
export interface CredentialInfo {
  readonly scheme: AuthDef['scheme'];
  /** Environment variable names (a `<NAME>_FILE` variant may hold a path instead, where supported). */
  readonly env: readonly string[];
  /** The header it travels in, for API keys. */
  readonly header?: string;
  /** The token endpoint, for OAuth2 client credentials. */
  readonly tokenPath?: string;
}

const names = (...refs: SecretRef[]) => refs.map((r) => r.env);

export function credentialOf(def: UpstreamDef): CredentialInfo {
  const a = def.auth;
  switch (a.scheme) {
    case 'none':
      return { scheme: 'none', env: [] };
    case 'bearer':
      return { scheme: 'bearer', env: names(a.token) };
    case 'apiKey':
      return { scheme: 'apiKey', env: names(a.key), header: a.header };
    case 'basic':
      return { scheme: 'basic', env: names(a.username, a.password) };
    case 'oauth2ClientCredentials':
      return { scheme: 'oauth2ClientCredentials', env: names(a.clientId, a.clientSecret), tokenPath: a.tokenPath };
  }
}
