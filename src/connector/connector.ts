/**
 * The connector: turns upstream definitions into per-request clients.
 *
 * Per request, one DataLoader per endpoint, created lazily: keys asked for in the same tick become one
 * batch. Per batch: the cache is read per key; keys another request is already fetching are shared
 * (coalescing, within the same cache scope); the rest are split at the endpoint's maximum batch size
 * (batch endpoints) or fanned out one call per key (single endpoints) under the upstream's bulkhead.
 * Failures are returned per key as values, in key order, as DataLoader expects.
 */
import DataLoader from 'dataloader';
import {
  ConfigurationError,
  UpstreamError,
  UpstreamHttpError,
  UpstreamTimeoutError,
  UpstreamUnauthorizedError,
  UpstreamUnavailableError,
} from '../errors.js';
import type { CacheStore } from './cache.js';
import { CredentialProvider, SecretSource } from './credentials.js';
import type { UpstreamDef } from './define.js';
import type { AttemptEvent, CacheStatus, Telemetry } from './events.js';
import { Executor, NOT_FOUND } from './executor.js';
import { Transport } from './transport.js';
import type {
  AnyEndpointDef,
  BatchEndpointDef,
  CallContext,
  EndpointKey,
  EndpointValue,
  SingleEndpointDef,
} from './types.js';
import { compileValidator, type Validator } from './validation.js';

export interface ConnectorOptions {
  readonly upstreams: readonly UpstreamDef[];
  readonly env: NodeJS.ProcessEnv;
  /** Base URLs by upstream name; overrides the definition's `baseUrlEnv` (used by tests and sandbox mode). */
  readonly baseUrls?: Readonly<Record<string, string>>;
  /** Sandbox mode: missing secrets fall back to the sandbox's defaults. */
  readonly sandboxMode: boolean;
  /** null: caching (and cross-request coalescing) off. */
  readonly cache: CacheStore | null;
  readonly telemetry: Telemetry;
  /** Keep parsed response bodies on attempt events (debug traces). */
  readonly captureBodies?: boolean;
}

export interface ScopeInit {
  readonly requestId: string;
  readonly user: { readonly id: string } | null;
  /** performance.now() by which every upstream call must be over. */
  readonly deadline: number;
  readonly signal?: AbortSignal | undefined;
  /** Headers to propagate to every upstream call (e.g. W3C traceparent). */
  readonly propagate?: Record<string, string> | undefined;
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

interface EndpointRuntime {
  readonly upstream: UpstreamRuntime;
  readonly name: string;
  readonly def: AnyEndpointDef;
  readonly validator: Validator;
  readonly keyId: (key: unknown) => string;
  readonly retryable: boolean;
  readonly timeoutMs: number;
  /** `${upstream}:${endpoint}:` — the start of every cache key of this endpoint. */
  readonly cachePrefix: string;
}

interface UpstreamRuntime {
  readonly def: UpstreamDef;
  readonly transport: Transport;
  readonly executor: Executor;
  readonly credentials: CredentialProvider;
  readonly endpoints: Map<string, EndpointRuntime>;
}

const defaultKeyId = (key: unknown): string => (typeof key === 'object' && key !== null ? stableStringify(key) : String(key));

/** JSON with sorted object keys, so equal keys give equal ids whatever their property order. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .filter((k) => o[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(',')}}`;
}

/** `UPSTREAM_<NAME>_CONTRACT=report|enforce` overrides the definition's contract mode (e.g. during a migration). */
function contractMode(def: UpstreamDef, env: NodeJS.ProcessEnv): 'enforce' | 'report' {
  const v = env[`UPSTREAM_${def.name.toUpperCase()}_CONTRACT`];
  if (v === undefined || v === '') return def.contract;
  if (v !== 'enforce' && v !== 'report') throw new ConfigurationError(`UPSTREAM_${def.name.toUpperCase()}_CONTRACT must be "enforce" or "report", but is ${JSON.stringify(v)}.`);
  return v;
}

/** A typed client per endpoint: DataLoader's `load`/`loadMany`. */
export type EndpointClient<D> = DataLoader<EndpointKey<D>, EndpointValue<D>, string>;
export type UpstreamClients<U extends Record<string, UpstreamDef<any>>> = {
  readonly [N in keyof U]: { readonly [E in keyof U[N]['endpoints']]: EndpointClient<U[N]['endpoints'][E]> };
};

export class Connector {
  readonly telemetry: Telemetry;
  private readonly runtimes = new Map<string, UpstreamRuntime>();
  private readonly cache: CacheStore | null;
  /** Cross-request coalescing: cache key → the in-flight fetch of that key. */
  private readonly inflight = new Map<string, Promise<Settled>>();
  private readonly warnedUserVariance = new Set<string>();
  private readonly facadeProtos = new Map<string, object>();

  constructor(opts: ConnectorOptions) {
    this.telemetry = opts.telemetry;
    this.cache = opts.cache;
    const secrets = new SecretSource({ env: opts.env, allowSandboxDefaults: opts.sandboxMode });
    for (const def of opts.upstreams) {
      if (this.runtimes.has(def.name)) throw new ConfigurationError(`Two upstreams are named "${def.name}".`);
      const baseUrl = opts.baseUrls?.[def.name] ?? opts.env[def.baseUrlEnv];
      if (!baseUrl) throw new ConfigurationError(`Upstream "${def.name}" has no base URL: set ${def.baseUrlEnv}.`);
      const transport = new Transport({ baseUrl, connections: def.resolvedPolicy.connections, maxResponseBytes: def.resolvedPolicy.maxResponseBytes });
      const credentials = new CredentialProvider(def.auth, secrets, (tokenPath, id, secret) => fetchOAuthToken(def.name, transport, tokenPath, id, secret));
      credentials.verify();
      const executor = new Executor({
        upstream: def.name,
        policy: def.resolvedPolicy,
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
          cachePrefix: `${def.name}:${name}:`,
        });
      }
      this.runtimes.set(def.name, rt);
    }
  }

  /** Upstream names, for health and admin routes. */
  get upstreamNames(): string[] {
    return [...this.runtimes.keys()];
  }

  breakerState(upstream: string): string {
    return this.runtimes.get(upstream)?.executor.breakerState ?? 'none';
  }

  /** A request's view of the upstreams. */
  scope(init: ScopeInit): RequestScope {
    return new RequestScope(this, init);
  }

  /** Typed clients for a scope: `clients.pricing.prices.load('SKU')`. Prototypes are built once. */
  clientsFor<U extends Record<string, UpstreamDef<any>>>(scope: RequestScope): UpstreamClients<U> {
    const out: Record<string, object> = {};
    for (const [name, rt] of this.runtimes) {
      let proto = this.facadeProtos.get(name);
      if (!proto) {
        proto = {};
        for (const ep of rt.endpoints.keys()) {
          Object.defineProperty(proto, ep, {
            get(this: { scope: RequestScope }) {
              return this.scope.loader(name, ep);
            },
          });
        }
        this.facadeProtos.set(name, proto);
      }
      const o = Object.create(proto) as { scope: RequestScope };
      o.scope = scope;
      out[name] = o;
    }
    return out as UpstreamClients<U>;
  }

  /** @internal the batch function behind a scope's loader. */
  endpoint(upstream: string, endpoint: string): EndpointRuntime {
    const ep = this.runtimes.get(upstream)?.endpoints.get(endpoint);
    if (!ep) throw new ConfigurationError(`No endpoint ${upstream}.${endpoint}.`);
    return ep;
  }

  /** @internal load keys for one request: cache, coalesce, then fetch what is left. */
  async load(ep: EndpointRuntime, keys: readonly unknown[], scope: RequestScope): Promise<unknown[]> {
    const n = keys.length;
    const out = new Array<unknown>(n);
    const up = ep.upstream.def.name;
    const policy = ep.def.cache;
    let cacheable = this.cache !== null && policy !== undefined && policy.scope !== 'none';
    if (cacheable && policy!.scope !== 'user' && this.readsUser(ep, keys)) {
      // Fail closed: a response that varies by user but is not declared `scope: 'user'` is never shared.
      cacheable = false;
      if (!this.warnedUserVariance.has(ep.cachePrefix)) {
        this.warnedUserVariance.add(ep.cachePrefix);
        process.emitWarning(`${up}.${ep.name} reads the user but its cache scope is "${policy!.scope}": not caching it.`);
      }
    }
    const own: number[] = [];
    const shared: [number, Promise<Settled>][] = [];
    let ckeys: string[] | undefined;
    const settle = new Map<number, (s: Settled) => void>();
    if (cacheable) {
      const scopePart = policy!.scope === 'user' ? `u${scope.user ? `:${scope.user.id}` : '-'}:` : 'p:';
      ckeys = keys.map((k) => ep.cachePrefix + scopePart + ep.keyId(k));
      const got = await this.cache!.getMany(ckeys);
      let hits = 0;
      for (let i = 0; i < n; i++) {
        const entry = got[i];
        if (entry) {
          out[i] = entry.v;
          hits++;
          continue;
        }
        const running = this.inflight.get(ckeys[i]!);
        if (running) {
          shared.push([i, running]);
        } else {
          own.push(i);
          let resolve!: (s: Settled) => void;
          const p = new Promise<Settled>((r) => (resolve = r));
          this.inflight.set(ckeys[i]!, p);
          settle.set(i, resolve);
        }
      }
      this.cacheEvent(scope, up, ep.name, 'hit', hits);
      this.cacheEvent(scope, up, ep.name, 'coalesced', shared.length);
      this.cacheEvent(scope, up, ep.name, 'miss', own.length);
    } else {
      for (let i = 0; i < n; i++) own.push(i);
    }

    if (own.length > 0) {
      const chunks: number[][] = [];
      if (ep.def.kind === 'batch') {
        const size = ep.def.maxBatchSize;
        for (let i = 0; i < own.length; i += size) chunks.push(own.slice(i, i + size));
      } else {
        for (const i of own) chunks.push([i]);
      }
      await Promise.all(
        chunks.map(async (chunk) => {
          let values: unknown[];
          try {
            values = await this.fetch(ep, chunk.map((i) => keys[i]), scope);
          } catch (error) {
            for (const i of chunk) {
              out[i] = error;
              settle.get(i)?.({ ok: false, error });
            }
            return;
          }
          for (let j = 0; j < chunk.length; j++) {
            const i = chunk[j]!;
            out[i] = values[j];
            settle.get(i)?.({ ok: true, value: values[j] });
            if (ckeys) void this.cache!.set(ckeys[i]!, { v: values[j] }, policy!.ttlMs);
          }
        }),
      );
      if (ckeys) for (const i of own) this.inflight.delete(ckeys[i]!);
    }
    for (const [i, p] of shared) {
      const s = await p;
      out[i] = s.ok ? s.value : s.error;
    }
    return out;
  }

  private cacheEvent(scope: RequestScope, upstream: string, endpoint: string, status: CacheStatus, keys: number): void {
    if (keys === 0) return;
    const e = { upstream, endpoint, status, keys, store: this.cache?.name ?? 'none' };
    scope.cacheEvents.push(e);
    this.telemetry.emit('cache', e);
  }

  /** Does the endpoint's request builder read the user for these keys? (It is pure; calling it is cheap.) */
  private readsUser(ep: EndpointRuntime, keys: readonly unknown[]): boolean {
    let read = false;
    const probe: CallContext = {
      get user() {
        read = true;
        return null;
      },
    };
    try {
      if (ep.def.kind === 'batch') ep.def.request(keys, probe);
      else for (const k of keys) ep.def.request(k, probe);
    } catch {
      return true; // cannot tell: fail closed
    }
    return read;
  }

  /** One upstream call (batch) or one call per key (single), through the executor's policies. */
  private async fetch(ep: EndpointRuntime, keys: readonly unknown[], scope: RequestScope): Promise<unknown[]> {
    const rt = ep.upstream;
    const ctx: CallContext = { user: scope.user };
    const common = {
      endpoint: ep.name,
      retryable: ep.retryable,
      timeoutMs: ep.timeoutMs,
      deadline: scope.deadline,
      signal: scope.signal,
      validator: ep.validator,
      headers: scope.propagate,
      onAttempt: scope.onAttempt,
    };
    if (ep.def.kind === 'batch') {
      const def = ep.def as BatchEndpointDef<unknown, any, unknown, unknown, 'one' | 'many'>;
      const spec = def.request(keys, ctx);
      const body = await rt.executor.call({
        ...common,
        method: def.method,
        path: rt.transport.path(spec),
        body: spec.body,
        keys: keys.length,
        notFoundIsNull: false,
      });
      const many = def.cardinality === 'many';
      const byKey = new Map<string, unknown>();
      for (const item of def.items(body)) {
        const k = def.itemKey(item);
        if (many) {
          const list = byKey.get(k) as unknown[] | undefined;
          if (list) list.push(def.map(item));
          else byKey.set(k, [def.map(item)]);
        } else if (!byKey.has(k)) {
          byKey.set(k, def.map(item));
        }
      }
      return keys.map((k) => byKey.get(ep.keyId(k)) ?? (many ? [] : null));
    }
    const def = ep.def as SingleEndpointDef<unknown, any, unknown>;
    const key = keys[0];
    const spec = def.request(key, ctx);
    const body = await rt.executor.call({
      ...common,
      method: def.method,
      path: rt.transport.path(spec),
      body: spec.body,
      keys: 1,
      notFoundIsNull: def.notFoundIsNull === true,
    });
    return [body === NOT_FOUND ? null : def.map(body, key)];
  }

  async close(): Promise<void> {
    await Promise.all([...this.runtimes.values()].map((rt) => rt.transport.close().catch(() => rt.transport.destroy())));
  }
}

async function fetchOAuthToken(
  upstream: string,
  transport: Transport,
  tokenPath: string,
  clientId: string,
  clientSecret: string,
): Promise<{ accessToken: string; expiresInS: number }> {
  const where = { upstream, endpoint: 'oauthToken' };
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 5_000);
  try {
    const res = await transport.send(
      'POST',
      transport.path({ path: tokenPath }),
      { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      'grant_type=client_credentials',
      ac.signal,
    );
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
    if (e instanceof UpstreamError) throw e;
    throw ac.signal.aborted ? new UpstreamTimeoutError(where) : new UpstreamUnavailableError({ ...where, status: 0 }, 'is unavailable');
  } finally {
    clearTimeout(t);
  }
}

/**
 * Everything one GraphQL request knows about its upstream calls: its loaders, the attempts made
 * (the trace), and cache outcomes.
 */
export class RequestScope {
  readonly requestId: string;
  readonly user: { readonly id: string } | null;
  readonly deadline: number;
  readonly signal: AbortSignal | undefined;
  readonly propagate: Record<string, string> | undefined;
  readonly startedAt = performance.now();
  readonly attempts: AttemptEvent[] = [];
  readonly cacheEvents: { upstream: string; endpoint: string; status: CacheStatus; keys: number; store: string }[] = [];
  readonly onAttempt = (e: AttemptEvent): void => {
    this.attempts.push(e);
  };
  private readonly loaders = new Map<string, DataLoader<unknown, unknown, string>>();

  constructor(
    private readonly connector: Connector,
    init: ScopeInit,
  ) {
    this.requestId = init.requestId;
    this.user = init.user;
    this.deadline = init.deadline;
    this.signal = init.signal;
    this.propagate = init.propagate;
  }

  loader(upstream: string, endpoint: string): DataLoader<unknown, unknown, string> {
    const id = `${upstream}.${endpoint}`;
    let l = this.loaders.get(id);
    if (!l) {
      const ep = this.connector.endpoint(upstream, endpoint);
      l = new DataLoader<unknown, unknown, string>((keys) => this.connector.load(ep, keys, this), { cacheKeyFn: ep.keyId });
      this.loaders.set(id, l);
    }
    return l;
  }
}
