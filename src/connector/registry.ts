/**
 * The registry: every upstream definition turned, once at start-up, into what the engine runs: its
 * transport, credentials and executor (the policies), and per endpoint the compiled response
 * validator, key function, cache prefix and the errors of a request that stops waiting. Read on every
 * call, never changed afterwards.
 */
import { createHash } from 'node:crypto';
import { ConfigurationError, UpstreamTimeoutError, UpstreamUnavailableError } from '../errors.js';
import type { ConnectorOptions } from './connector.js';
import { CredentialProvider, SecretSource } from './credentials.js';
import type { UpstreamDef } from './define.js';
import { compileErrorDetail, type ErrorDetailReader } from './error-detail.js';
import { Executor } from './executor.js';
import type { LeaveErrors } from './flight.js';
import { defaultKeyId } from './key-id.js';
import { OAuth2TokenSource } from './oauth2-token-source.js';
import { Transport } from './transport.js';
import type { AnyEndpointDef } from './types.js';
import { compileValidator, type Validator } from './validation.js';

export interface EndpointRuntime {
  readonly upstream: UpstreamRuntime;
  readonly name: string;
  readonly def: AnyEndpointDef;
  readonly validator: Validator;
  readonly keyId: (key: unknown) => string;
  /** GET, or declared `retrySafe` (a write call with an idempotency key is retry-safe on its own). */
  readonly retryable: boolean;
  readonly timeoutMs: number;
  /** `${upstream}:${endpoint}:${shape}:` — the start of every cache key of this endpoint. */
  readonly cachePrefix: string;
  /** What a request gets when it stops waiting for a shared call on its own. */
  readonly leave: LeaveErrors;
  /** The endpoint's declared reader of a refusal's detail (writes), compiled. */
  readonly errorDetail: ErrorDetailReader | undefined;
}

export interface UpstreamRuntime {
  readonly def: UpstreamDef;
  readonly transport: Transport;
  readonly executor: Executor;
  readonly credentials: CredentialProvider;
  readonly endpoints: Map<string, EndpointRuntime>;
}

/** `UPSTREAM_<NAME>_CONTRACT=report|enforce` overrides the definition's contract mode (e.g. during a migration). */
function contractMode(def: UpstreamDef, env: NodeJS.ProcessEnv): 'enforce' | 'report' {
  const v = env[`UPSTREAM_${def.name.toUpperCase()}_CONTRACT`];
  if (v === undefined || v === '') return def.contract;
  if (v !== 'enforce' && v !== 'report') throw new ConfigurationError(`UPSTREAM_${def.name.toUpperCase()}_CONTRACT must be "enforce" or "report", but is ${JSON.stringify(v)}.`);
  return v;
}

/** The errors of a request that stops waiting for a shared call: its deadline passed, or its client went away. */
function leaveErrors(where: { upstream: string; endpoint: string }): LeaveErrors {
  return {
    timeout: () => new UpstreamTimeoutError(where),
    cancelled: () => new UpstreamUnavailableError(where, 'call was cancelled', { extensions: { reason: 'cancelled' } }),
  };
}

/**
 * A short digest of an endpoint's declared response schema, part of its cache keys: a deploy that
 * changes what an upstream answers never reads entries cached in the old shape (from Redis, shared
 * with replicas still on the old version). A change of the mapping alone needs CACHE_VERSION.
 */
function shapeTag(schema: unknown): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('base64url').slice(0, 8);
}

/** @internal Build every upstream's runtime from the definitions; a wrong set-up fails here, at start-up. */
export function buildRegistry(opts: ConnectorOptions, now: () => number): Map<string, UpstreamRuntime> {
  const runtimes = new Map<string, UpstreamRuntime>();
  const secrets = new SecretSource({ env: opts.env, allowSandboxDefaults: opts.sandboxMode });
  for (const def of opts.upstreams) {
    if (runtimes.has(def.name)) throw new ConfigurationError(`Two upstreams are named "${def.name}".`);
    const baseUrl = opts.baseUrls?.[def.name] ?? opts.env[def.baseUrlEnv];
    if (!baseUrl) throw new ConfigurationError(`Upstream "${def.name}" has no base URL: set ${def.baseUrlEnv}.`);
    const transport = new Transport({ baseUrl, connections: def.resolvedPolicy.connections, maxResponseBytes: def.resolvedPolicy.maxResponseBytes });
    const tokens =
      def.auth.scheme === 'oauth2ClientCredentials'
        ? new OAuth2TokenSource({ upstream: def.name, auth: def.auth, secrets, transport, telemetry: opts.telemetry, now })
        : undefined;
    const credentials = new CredentialProvider(def.auth, secrets, tokens);
    credentials.verify();
    const executor = new Executor({
      upstream: def.name,
      policy: {
        ...def.resolvedPolicy,
        hedge: opts.switches?.hedging === false ? false : def.resolvedPolicy.hedge,
        breaker: opts.switches?.breakers === false ? false : def.resolvedPolicy.breaker,
      },
      transport,
      credentials,
      telemetry: opts.telemetry,
      contractMode: contractMode(def, opts.env),
      captureBodies: opts.captureBodies ?? false,
    });
    const rt: UpstreamRuntime = { def, transport, executor, credentials, endpoints: new Map() };
    for (const [name, ep] of Object.entries(def.endpoints)) {
      rt.endpoints.set(name, {
        upstream: rt,
        name,
        def: ep,
        validator: compileValidator(ep.response),
        keyId: (ep.keyId as ((k: unknown) => string) | undefined) ?? defaultKeyId,
        retryable: ep.retrySafe === true || ep.method === 'GET',
        timeoutMs: ep.timeoutMs ?? def.resolvedPolicy.timeoutMs,
        cachePrefix: `${def.name}:${name}:${shapeTag(ep.response)}:`,
        leave: leaveErrors({ upstream: def.name, endpoint: name }),
        errorDetail: ep.errorDetail ? compileErrorDetail(ep.errorDetail) : undefined,
      });
    }
    runtimes.set(def.name, rt);
  }
  return runtimes;
}
