/**
 * The security layer's settings, from the environment, with documented defaults (README, Security).
 * The defaults let every operation of `operations/` pass with room to spare.
 */
import { ConfigurationError } from '../errors.js';

export interface SecurityConfig {
  /** Deepest field nesting of an operation. */
  readonly maxDepth: number;
  /** Most aliases in an operation. */
  readonly maxAliases: number;
  /** Most lexical tokens in a document (checked while parsing, so a huge document is not parsed whole). */
  readonly maxTokens: number;
  /** Most directives in an operation. */
  readonly maxDirectives: number;
  /** Highest cost of an operation: each field costs 1, times the sizes of the lists around it. */
  readonly maxCost: number;
  /** Assumed size of a list field with no `first`/`last`/`limit` argument (in the cost). */
  readonly defaultListSize: number;
  /** Longest GraphQL document a client may send (characters, comments and whitespace included). */
  readonly maxDocumentLength: number;
  /** Longest `ID` value an argument or variable may carry (characters). */
  readonly maxIdLength: number;
  /** Longest `String` (or custom scalar) value an argument or variable may carry (characters). */
  readonly maxStringLength: number;
  /** Introspection queries allowed (development default on, production off). */
  readonly introspection: boolean;
  /** "Did you mean ...?" suggestions in validation errors (development on, production off). */
  readonly fieldSuggestions: boolean;
  /** `only`: every request must be a persisted document; `any`: per client. */
  readonly persistedOperations: 'any' | 'only';
  /**
   * Automatic persisted queries (`APQ`): clients allowed ad-hoc documents register them by hash
   * (`APQ_MAX_ENTRIES` and `APQ_MAX_BYTES` in memory, each kept `APQ_TTL_SECONDS`; in Redis too with `REDIS_URL`).
   */
  readonly apq: { readonly enabled: boolean; readonly maxEntries: number; readonly maxBytes: number; readonly ttlMs: number };
  /** Refuse GET and form-like POSTs without a preflight header (CSRF). */
  readonly csrfPrevention: boolean;
  /** End users' tokens may be signed by the keys of this JWKS (`JWKS_URL`). */
  readonly jwksUrl: string | undefined;
  /** Required `iss` / `aud` claims of end users' tokens (`JWT_ISSUER`, `JWT_AUDIENCE`). */
  readonly jwtIssuer: string | undefined;
  readonly jwtAudience: string | undefined;
  /** Whether HS256 tokens are accepted: always without a JWKS, with one only when `JWT_SECRET` is set. */
  readonly hs256: boolean;
}

export const SECURITY_DEFAULTS = {
  maxDepth: 10,
  maxAliases: 15,
  maxTokens: 2_000,
  maxDirectives: 10,
  maxCost: 20_000,
  defaultListSize: 10,
  maxDocumentLength: 100_000, // characters: the largest operation of operations/ is under 1,000; comments count
  maxIdLength: 128, // characters: a UUID is 36, a base64 global id well under 100
  maxStringLength: 1_024, // characters: search terms, postcodes, tokens, keys
  apqMaxEntries: 10_000, // documents registered by APQ, in memory
  apqMaxBytes: 16 * 1024 * 1024, // bytes of those documents, in memory
  apqTtlSeconds: 86_400, // s a registered document is kept (in memory and Redis) after its registration
} as const;

function int(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new ConfigurationError(`${name} must be an integer >= 1, but is ${JSON.stringify(raw)}.`);
  return n;
}

function onOff(env: NodeJS.ProcessEnv, name: string, dflt: boolean): boolean {
  const v = (env[name] ?? '').toLowerCase();
  if (v === '') return dflt;
  if (v === 'on') return true;
  if (v === 'off') return false;
  throw new ConfigurationError(`${name} must be "on" or "off", but is ${JSON.stringify(env[name])}.`);
}

/** Read the security settings; `production` turns introspection and suggestions off by default. */
export function loadSecurityConfig(env: NodeJS.ProcessEnv, mode: 'development' | 'production'): SecurityConfig {
  const dev = mode !== 'production';
  const persisted = (env.PERSISTED_OPERATIONS ?? 'any').toLowerCase();
  if (persisted !== 'any' && persisted !== 'only') throw new ConfigurationError(`PERSISTED_OPERATIONS must be "any" or "only", but is ${JSON.stringify(env.PERSISTED_OPERATIONS)}.`);
  const jwksUrl = env.JWKS_URL || undefined;
  if (jwksUrl) {
    let u: URL;
    try {
      u = new URL(jwksUrl);
    } catch {
      throw new ConfigurationError(`JWKS_URL is not a URL: ${JSON.stringify(jwksUrl)}.`);
    }
    if (u.protocol !== 'https:' && !(dev && u.protocol === 'http:')) throw new ConfigurationError('JWKS_URL must be https (http is accepted in development only).');
  }
  return {
    jwksUrl,
    jwtIssuer: env.JWT_ISSUER || undefined,
    jwtAudience: env.JWT_AUDIENCE || undefined,
    hs256: !jwksUrl || Boolean(env.JWT_SECRET),
    maxDepth: int(env, 'GRAPHQL_MAX_DEPTH', SECURITY_DEFAULTS.maxDepth),
    maxAliases: int(env, 'GRAPHQL_MAX_ALIASES', SECURITY_DEFAULTS.maxAliases),
    maxTokens: int(env, 'GRAPHQL_MAX_TOKENS', SECURITY_DEFAULTS.maxTokens),
    maxDirectives: int(env, 'GRAPHQL_MAX_DIRECTIVES', SECURITY_DEFAULTS.maxDirectives),
    maxCost: int(env, 'GRAPHQL_MAX_COST', SECURITY_DEFAULTS.maxCost),
    defaultListSize: int(env, 'GRAPHQL_DEFAULT_LIST_SIZE', SECURITY_DEFAULTS.defaultListSize),
    maxDocumentLength: int(env, 'GRAPHQL_MAX_DOCUMENT_LENGTH', SECURITY_DEFAULTS.maxDocumentLength),
    maxIdLength: int(env, 'GRAPHQL_MAX_ID_LENGTH', SECURITY_DEFAULTS.maxIdLength),
    maxStringLength: int(env, 'GRAPHQL_MAX_STRING_LENGTH', SECURITY_DEFAULTS.maxStringLength),
    introspection: onOff(env, 'GRAPHQL_INTROSPECTION', dev),
    fieldSuggestions: onOff(env, 'GRAPHQL_FIELD_SUGGESTIONS', dev),
    persistedOperations: persisted,
    apq: {
      enabled: onOff(env, 'APQ', true),
      maxEntries: int(env, 'APQ_MAX_ENTRIES', SECURITY_DEFAULTS.apqMaxEntries),
      maxBytes: int(env, 'APQ_MAX_BYTES', SECURITY_DEFAULTS.apqMaxBytes),
      ttlMs: int(env, 'APQ_TTL_SECONDS', SECURITY_DEFAULTS.apqTtlSeconds) * 1000,
    },
    csrfPrevention: onOff(env, 'CSRF_PREVENTION', true),
  };
}
