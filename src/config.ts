/**
 * Configuration from the environment, resolved in one place with units. Every variable is listed in
 * the README; a wrong value fails start-up with a message that names it.
 */
import { ConfigurationError } from './errors.js';

export type Mode = 'development' | 'production';

export interface GatewayConfig {
  readonly port: number;
  readonly host: string;
  readonly mode: Mode;
  /** No UPSTREAM_*_URL set: the sandbox shop is started in-process and its demo credentials are used. */
  readonly sandbox: boolean;
  readonly jwtSecret: string;
  readonly redisUrl: string | undefined;
  readonly cache: {
    readonly enabled: boolean;
    readonly maxEntries: number; // entries in the in-memory store
    readonly memoryLayer: boolean; // with Redis: keep a memory layer in front of it
    readonly namespace: string; // prefix of every shared key
    readonly version: string; // bumped by a deploy that changes cached shapes
    readonly redisTimeoutMs: number; // a slower Redis answer is a miss
  };
  readonly requestTimeoutMs: number; // deadline of one GraphQL request
  /** Global switches over the upstreams' declared policies (operations, benchmarks). */
  readonly policies: { readonly hedging: boolean; readonly breakers: boolean };
  readonly logLevel: string;
  readonly maxBodyBytes: number;
  /** Execution traces: kept in memory (`/traces`), and whether debug traces hold response bodies. */
  readonly traces: { readonly enabled: boolean; readonly storeSize: number; readonly bodies: boolean };
  /** OTEL_PROPAGATORS: the trace-context formats sent upstream (and read from clients) when an OpenTelemetry SDK is registered. */
  readonly propagators: readonly Propagator[];
  /** Names in OTEL_PROPAGATORS this gateway does not implement (jaeger, xray, ottrace...): ignored with a warning at start, as the SDKs do. */
  readonly propagatorsIgnored: readonly string[];
  /** Execute operations compiled by graphql-jit (GRAPHQL_JIT), instead of the reference executor. */
  readonly jit: boolean;
  /** Serve plain JSON POSTs through yoga's plugins without the Fetch API objects (DIRECT_EXECUTION, `src/http/fast-path.ts`). */
  readonly directExecution: boolean;
  /** Processes serving the port (WORKERS, node:cluster); 1 = this process alone. */
  readonly workers: number;
  /** Browser origins allowed to call /graphql cross-origin: a list, any (`*`), or none (null). */
  readonly corsOrigins: readonly string[] | '*' | null;
  /** Response compression (`Accept-Encoding`: br, gzip) for answers of at least `minBytes`. */
  readonly compression: { readonly enabled: boolean; readonly minBytes: number };
  /** The HTTP server's bounds on slow or many clients, and the drain on SIGTERM (all ms but `maxConnections`). */
  readonly server: {
    readonly headersTimeoutMs: number; // HEADERS_TIMEOUT_MS: a request's headers must arrive within this
    readonly requestBodyTimeoutMs: number; // REQUEST_BODY_TIMEOUT_MS: the whole request (headers and body) within this
    readonly maxConnections: number; // MAX_CONNECTIONS: open connections per process; 0 = no bound
    readonly shutdownGraceMs: number; // SHUTDOWN_GRACE_MS: after SIGTERM, keep serving (readyz 503) this long
    readonly shutdownTimeoutMs: number; // SHUTDOWN_TIMEOUT_MS: then, in-flight requests get this long to finish
  };
  /** The workflow log (orchestrated writes): where it is and how long a driving process's lease lasts. */
  readonly workflow: {
    readonly databaseUrl: string | undefined; // DATABASE_URL: PostgreSQL, shared by replicas
    readonly directory: string | undefined; // WORKFLOW_DIR: the embedded log's directory
    readonly tablePrefix: string | undefined; // WORKFLOW_TABLE_PREFIX: tables' name prefix in either log
    readonly leaseMs: number; // WORKFLOW_LEASE_MS: another process takes over a dead one's workflows after this
  };
}

export const CONFIG_DEFAULTS = {
  port: 4000,
  host: '0.0.0.0',
  requestTimeoutMs: 5_000, // ms, per GraphQL request; a client may lower it with x-request-timeout-ms
  cacheMaxEntries: 50_000, // entries
  cacheNamespace: 'tributary',
  cacheVersion: '1',
  redisTimeoutMs: 50, // ms
  logLevel: 'info',
  maxBodyBytes: 1024 * 1024, // bytes of a GraphQL request body
  devJwtSecret: 'tributary-development-secret-do-not-use-in-production',
  traceStoreSize: 500, // traces kept in memory for /traces
  compressionMinBytes: 1_024, // bytes: below about a packet, compressing saves nothing worth its CPU
  headersTimeoutMs: 10_000, // ms: node's default is 60 s
  requestBodyTimeoutMs: 30_000, // ms: node's default is 300 s; a body is at most MAX_BODY_BYTES
  maxConnections: 10_000, // per process
  shutdownGraceMs: 5_000, // ms, in production (0 in development): the time a load balancer takes to see /readyz fail and stop sending
  shutdownTimeoutMs: 10_000, // ms: past REQUEST_TIMEOUT_MS, so a request in flight at the end of the grace finishes
  workflowLeaseMs: 15_000, // ms a workflow's lease lasts without renewal (renewed every third of it)
} as const;

/**
 * The environment variables that hold upstream base URLs when the caller does not name them: any
 * `UPSTREAM_<NAME>_URL`. The composition root passes the definitions' own `baseUrlEnv` instead.
 */
function urlVariablesIn(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(env).filter((k) => /^UPSTREAM_[A-Z0-9_]+_URL$/.test(k));
}

function onOff(env: NodeJS.ProcessEnv, name: string, dflt: boolean): boolean {
  const v = (env[name] ?? '').toLowerCase();
  if (v === '') return dflt;
  if (v === 'on') return true;
  if (v === 'off') return false;
  throw new ConfigurationError(`${name} must be "on" or "off", but is ${JSON.stringify(env[name])}.`);
}

function int(env: NodeJS.ProcessEnv, name: string, dflt: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new ConfigurationError(`${name} must be an integer >= ${min}, but is ${JSON.stringify(raw)}.`);
  return n;
}

/**
 * `CORS_ORIGINS`: comma-separated origins (`https://shop.example`), `*` for any, `off` for none.
 * Unset: any origin in development, none in production (a browser app on another origin must be named).
 */
function corsOrigins(env: NodeJS.ProcessEnv, mode: Mode): readonly string[] | '*' | null {
  const raw = (env.CORS_ORIGINS ?? '').trim();
  if (raw === '') return mode === 'production' ? null : '*';
  if (raw === '*') return '*';
  if (raw.toLowerCase() === 'off') return null;
  return raw.split(',').map((o) => {
    const origin = o.trim();
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.origin !== origin) {
      throw new ConfigurationError(`CORS_ORIGINS must list origins such as https://shop.example (scheme, host and port only), but has ${JSON.stringify(origin)}.`);
    }
    return origin;
  });
}

/**
 * The gateway's configuration from the environment. `upstreamUrlVariables` are the base URL
 * variables of the upstream definitions (the engine knows no upstream by name): none of them set
 * means sandbox mode.
 *
 * @example
 * const config = loadConfig(process.env, upstreamList.map((d) => d.baseUrlEnv));
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, upstreamUrlVariables: readonly string[] = urlVariablesIn(env)): GatewayConfig {
  const mode: Mode = env.NODE_ENV === 'production' ? 'production' : 'development';
  const sandbox = upstreamUrlVariables.every((v) => !env[v]);
  if (mode === 'production' && sandbox) {
    throw new ConfigurationError('In production every UPSTREAM_<NAME>_URL must be set; the sandbox is for development.');
  }
  let jwtSecret = env.JWT_SECRET ?? '';
  if (!jwtSecret) {
    if (mode === 'production' && !env.JWKS_URL) throw new ConfigurationError('JWT_SECRET (or JWKS_URL) must be set in production.');
    jwtSecret = CONFIG_DEFAULTS.devJwtSecret;
  } else if (jwtSecret.length < 32) {
    throw new ConfigurationError('JWT_SECRET must be at least 32 characters (HS256 needs 256 bits).');
  }
  const cacheSetting = (env.CACHE ?? 'on').toLowerCase();
  if (cacheSetting !== 'on' && cacheSetting !== 'off') throw new ConfigurationError(`CACHE must be "on" or "off", but is ${JSON.stringify(env.CACHE)}.`);
  return {
    port: int(env, 'PORT', CONFIG_DEFAULTS.port),
    host: env.HOST || CONFIG_DEFAULTS.host,
    mode,
    sandbox,
    jwtSecret,
    redisUrl: env.REDIS_URL || undefined,
    cache: {
      enabled: cacheSetting === 'on',
      maxEntries: int(env, 'CACHE_MAX_ENTRIES', CONFIG_DEFAULTS.cacheMaxEntries, 1),
      memoryLayer: onOff(env, 'CACHE_MEMORY_LAYER', true),
      namespace: env.CACHE_NAMESPACE || CONFIG_DEFAULTS.cacheNamespace,
      version: env.CACHE_VERSION || CONFIG_DEFAULTS.cacheVersion,
      redisTimeoutMs: int(env, 'REDIS_TIMEOUT_MS', CONFIG_DEFAULTS.redisTimeoutMs, 1),
    },
    requestTimeoutMs: int(env, 'REQUEST_TIMEOUT_MS', CONFIG_DEFAULTS.requestTimeoutMs, 1),
    policies: { hedging: onOff(env, 'HEDGING', true), breakers: onOff(env, 'BREAKERS', true) },
    logLevel: env.LOG_LEVEL || CONFIG_DEFAULTS.logLevel,
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', CONFIG_DEFAULTS.maxBodyBytes, 1),
    traces: {
      enabled: onOff(env, 'TRACES', true),
      storeSize: int(env, 'TRACE_STORE_SIZE', CONFIG_DEFAULTS.traceStoreSize, 1),
      bodies: onOff(env, 'TRACE_BODIES', /^(debug|trace)$/i.test(env.LOG_LEVEL ?? '')),
    },
    ...propagatorsOf(env),
    jit: onOff(env, 'GRAPHQL_JIT', true),
    directExecution: onOff(env, 'DIRECT_EXECUTION', true),
    workers: int(env, 'WORKERS', 1, 1),
    corsOrigins: corsOrigins(env, mode),
    compression: { enabled: onOff(env, 'COMPRESSION', true), minBytes: int(env, 'COMPRESSION_MIN_BYTES', CONFIG_DEFAULTS.compressionMinBytes, 0) },
    server: {
      headersTimeoutMs: int(env, 'HEADERS_TIMEOUT_MS', CONFIG_DEFAULTS.headersTimeoutMs, 100),
      requestBodyTimeoutMs: int(env, 'REQUEST_BODY_TIMEOUT_MS', CONFIG_DEFAULTS.requestBodyTimeoutMs, 100),
      maxConnections: int(env, 'MAX_CONNECTIONS', CONFIG_DEFAULTS.maxConnections, 0),
      // In development a Ctrl-C need not wait for a load balancer.
      shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', mode === 'production' ? CONFIG_DEFAULTS.shutdownGraceMs : 0, 0),
      shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', CONFIG_DEFAULTS.shutdownTimeoutMs, 0),
    },
    workflow: {
      databaseUrl: env.DATABASE_URL || undefined,
      directory: env.WORKFLOW_DIR || undefined,
      tablePrefix: env.WORKFLOW_TABLE_PREFIX || undefined,
      leaseMs: int(env, 'WORKFLOW_LEASE_MS', CONFIG_DEFAULTS.workflowLeaseMs, 1_000),
    },
  };
}

export type Propagator = 'tracecontext' | 'baggage' | 'b3' | 'b3multi';
const PROPAGATORS: readonly string[] = ['tracecontext', 'baggage', 'b3', 'b3multi', 'none'];

/**
 * OTEL_PROPAGATORS, as the OpenTelemetry SDKs read it: a comma-separated list, default
 * `tracecontext,baggage`; `none` sends nothing. A name this gateway does not implement is ignored (and
 * warned about at start), as the SDKs do: the variable is shared with an SDK that may know it.
 */
function propagatorsOf(env: NodeJS.ProcessEnv): { propagators: Propagator[]; propagatorsIgnored: string[] } {
  const raw = env.OTEL_PROPAGATORS?.trim();
  if (!raw) return { propagators: ['tracecontext', 'baggage'], propagatorsIgnored: [] };
  const list = [...new Set(raw.split(',').map((p) => p.trim().toLowerCase()).filter(Boolean))];
  return {
    propagators: list.filter((p): p is Propagator => PROPAGATORS.includes(p) && p !== 'none'),
    propagatorsIgnored: list.filter((p) => !PROPAGATORS.includes(p)).map((p) => p.slice(0, 40)),
  };
}
