/**
 * What the tests and the bench take from the upstream definitions (`upstreams/`) and the sandbox's
 * descriptors (`sandbox/upstreams/`) instead of listing upstreams by hand: the names, the URL
 * variables, and every credential variable with the upstream that owns it.
 */
import { CREDENTIAL_ENV, CREDENTIAL_OWNER as SANDBOX_CREDENTIAL_OWNER } from '../../sandbox/index.js';
import { upstreams } from '../../upstreams/index.js';

/** The parts of a definition read here (the record may grow; its entries keep this shape). */
export interface DefinitionShape {
  readonly name: string;
  readonly baseUrlEnv: string;
  readonly auth: { readonly scheme: string } & Record<string, unknown>;
  readonly endpoints: Record<string, unknown>;
}

export const DEFINITIONS: readonly DefinitionShape[] = Object.values(upstreams) as unknown as DefinitionShape[];

/** Every defined upstream's name, in definition order. */
export const DEFINED_UPSTREAMS: readonly string[] = DEFINITIONS.map((d) => d.name);

/** Every endpoint the definitions declare, as `<upstream>.<endpoint>`, sorted. */
export const DECLARED_ENDPOINTS: readonly string[] = DEFINITIONS.flatMap((d) => Object.keys(d.endpoints).map((e) => `${d.name}.${e}`)).sort();

/** The secret references (`{ env, sandboxDefault }`) of a definition's auth, in declaration order. */
export function secretRefsOf(def: DefinitionShape): { env: string; sandboxDefault?: string }[] {
  return Object.values(def.auth).filter((v): v is { env: string; sandboxDefault?: string } => typeof v === 'object' && v !== null && typeof (v as { env?: unknown }).env === 'string');
}

export interface CredentialVariable {
  /** The environment variable the gateway reads. */
  readonly env: string;
  /** The upstream it is sent to. */
  readonly owner: string;
  /** The sandbox's key for it, when a sandbox upstream accepts it. */
  readonly sandboxKey: string | undefined;
}

const SANDBOX_KEY_OF_ENV = new Map(Object.entries(CREDENTIAL_ENV).map(([key, env]) => [env, key]));

/**
 * Every credential variable: each one any definition declares, then each one only a sandbox upstream
 * declares (an upstream the gateway has no definition for yet).
 */
export const CREDENTIAL_VARIABLES: readonly CredentialVariable[] = (() => {
  const out: CredentialVariable[] = [];
  const seen = new Set<string>();
  for (const d of DEFINITIONS) {
    for (const ref of secretRefsOf(d)) {
      if (seen.has(ref.env)) continue;
      seen.add(ref.env);
      out.push({ env: ref.env, owner: d.name, sandboxKey: SANDBOX_KEY_OF_ENV.get(ref.env) });
    }
  }
  for (const [key, env] of Object.entries(CREDENTIAL_ENV)) {
    if (!seen.has(env)) out.push({ env, owner: SANDBOX_CREDENTIAL_OWNER[key]!, sandboxKey: key });
  }
  return out;
})();

/** Credential variables sent together inside HTTP Basic (`user:pass`): basic auth, and OAuth2 client credentials. */
export const BASIC_PAIRS: readonly (readonly [user: string, pass: string])[] = DEFINITIONS.flatMap((d) => {
  const refs = secretRefsOf(d);
  return (d.auth.scheme === 'basic' || d.auth.scheme === 'oauth2ClientCredentials') && refs.length === 2 ? [[refs[0]!.env, refs[1]!.env] as const] : [];
});

/** The definitions using OAuth2 client credentials, with their token route key (`POST /oauth/token`). */
export const OAUTH_TOKEN_ROUTES: readonly { readonly owner: string; readonly route: string }[] = DEFINITIONS.flatMap((d) =>
  d.auth.scheme === 'oauth2ClientCredentials' ? [{ owner: d.name, route: `POST ${String(d.auth.tokenPath)}` }] : [],
);

/** `<baseUrlEnv>=<url>` for every defined upstream with a URL in `urls`. */
export function upstreamUrlEnv(urls: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(DEFINITIONS.filter((d) => urls[d.name]).map((d) => [d.baseUrlEnv, urls[d.name]!]));
}

/** The credentials (by sandbox key) under the gateway's variable names, for every variable with a value. */
export function credentialEnv(credentials: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of CREDENTIAL_VARIABLES) {
    const value = v.sandboxKey === undefined ? undefined : credentials[v.sandboxKey];
    if (value) env[v.env] = value;
  }
  return env;
}
