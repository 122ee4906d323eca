/**
 * The connector: turns upstream definitions into per-request clients.
 *
 * Per request, one DataLoader per endpoint, created lazily: keys asked for in the same tick become one
 * batch. Per batch: the cache is read per key; keys another request is already fetching are shared
 * (coalescing, within the same cache scope); the rest are split at the endpoint's maximum batch size
 * (batch endpoints) or fanned out one call per key (single endpoints) under the upstream's bulkhead.
 * Failures are returned per key as values, in key order, as DataLoader expects.
 */
import { createHash } from 'node:crypto';
import DataLoader from 'dataloader';
import {
  ConfigurationError,
  UpstreamError,
  UpstreamHttpError,
  UpstreamTimeoutError,
  UpstreamUnauthorizedError,
  UpstreamUnavailableError,
} from '../errors.js';
import type { CacheRead, CacheStore } from './cache.js';
import { Cancel } from './cancel.js';
import { CredentialProvider, SecretSource, type TokenObserver } from './credentials.js';
import type { UpstreamDef } from './define.js';
import type { AttemptEvent, CacheStatus, Telemetry } from './events.js';
import { Executor, NOT_FOUND, type CallOptions } from './executor.js';
import { Flight, type LeaveErrors, type Outcome } from './flight.js';
import { Transport } from './transport.js';
import type {
  AnyEndpointDef,
  BatchEndpointDef,
  CacheScope,
  CachePolicyInput,
  CallContext,
  OnErrorPolicy,
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
  /** Wall clock (epoch ms) for cache freshness and OAuth2 token lifetimes; tests move it instead of sleeping. */
  readonly now?: () => number;
  /** Global switches: `false` turns the policy off for every upstream, whatever the definitions say. */
  readonly switches?: { readonly hedging?: boolean; readonly breakers?: boolean };
}

export interface ScopeInit {
  readonly requestId: string;
  readonly user: { readonly id: string } | null;
  /** performance.now() by which every upstream call must be over. */
  readonly deadline: number;
  /**
   * The request's abort signal (its client went away), or the server's own token for it. One per
   * request: the scope listens to an AbortSignal for as long as the signal lives.
   */
  readonly signal?: AbortSignal | Cancel | undefined;
  /** Headers to propagate to every upstream call (e.g. W3C traceparent). */
  readonly propagate?: Record<string, string> | undefined;
}

/** A key's place in a shared call: the call, and the key's index among the call's keys. */
interface Slot {
  readonly flight: Flight<unknown[]>;
  readonly index: number;
}

/** What one upstream call needs from its request (or from a background refresh). */
interface FetchContext {
  /** The GraphQL request the call serves (for a background refresh, the request that started it). */
  readonly requestId: string | undefined;
  readonly user: { readonly id: string } | null;
  /** performance.now() by which the call must be over; a shared call's moves later as requests join it. */
  readonly deadline: number;
  readonly signal: Cancel | undefined;
  readonly propagate: Record<string, string> | undefined;
  readonly onAttempt: ((e: AttemptEvent) => void) | undefined;
}

/**
 * One logical call's options for the executor. A class, not an object literal with a getter: every
 * call has the same shape, and the deadline is read through the context at each use (a shared
 * call's moves later as requests join it).
 */
class Call implements CallOptions {
  readonly endpoint: string;
  readonly retryable: boolean;
  readonly timeoutMs: number;
  readonly signal: Cancel | undefined;
  readonly validator: Validator;
  readonly headers: Record<string, string> | undefined;
  readonly onAttempt: ((e: AttemptEvent) => void) | undefined;
  readonly requestId: string | undefined;
  readonly method: EndpointRuntime['def']['method'];

  constructor(
    ep: EndpointRuntime,
    private readonly ctx: FetchContext,
    readonly path: string,
    readonly body: unknown,
    readonly keys: number,
    readonly notFoundIsNull: boolean,
  ) {
    this.endpoint = ep.name;
    this.retryable = ep.retryable;
    this.timeoutMs = ep.timeoutMs;
    this.signal = ctx.signal;
    this.validator = ep.validator;
    this.headers = ctx.propagate;
    this.onAttempt = ctx.onAttempt;
    this.requestId = ctx.requestId;
    this.method = ep.def.method;
  }

  get deadline(): number {
    return this.ctx.deadline;
  }
}

/**
 * The TTL to store a value for: the endpoint's, lowered by the upstream's Cache-Control (`s-maxage`
 * first, as we are a shared cache, then `max-age`); 0 means do not store (`no-store`, `no-cache`,
 * `private` on a shared entry, or max-age=0).
 */
export function effectiveTtl(policy: CachePolicyInput, cacheControl: string | undefined): number {
  if (!cacheControl) return policy.ttlMs;
  const cc = cacheControl.toLowerCase();
  if (/(^|[\s,])(no-store|no-cache)([\s,=]|$)/.test(cc)) return 0;
  if (/(^|[\s,])private([\s,=]|$)/.test(cc) && policy.scope !== 'user') return 0;
  const m = /(?:^|[\s,])s-maxage\s*=\s*(\d+)/.exec(cc) ?? /(?:^|[\s,])max-age\s*=\s*(\d+)/.exec(cc);
  return m ? Math.min(policy.ttlMs, Number(m[1]) * 1000) : policy.ttlMs;
}

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
  /** What a request gets when it stops waiting for a shared call on its own. */
  readonly leave: LeaveErrors;
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

/**
 * Where a request's clients keep their scope and the upstream clients made so far: under symbols,
 * so no upstream name (the getters beside them) can collide with them.
 */
const SCOPE = Symbol('scope');
const MADE = Symbol('made');
interface ClientsState {
  [SCOPE]: RequestScope;
  [MADE]: Record<string, object> | undefined;
}

/** Keys per upstream call: the endpoint's maximum batch (batch endpoints), or one (single endpoints). */
const callSize = (ep: EndpointRuntime): number => (ep.def.kind === 'batch' ? ep.def.maxBatchSize : 1);

/** Does item i answer key i, for every key? */
function inKeyOrder(items: readonly unknown[], keys: readonly unknown[], itemKey: (item: any) => string, keyId: (key: unknown) => string): boolean {
  if (items.length !== keys.length) return false;
  for (let i = 0; i < keys.length; i++) if (itemKey(items[i]) !== keyId(keys[i])) return false;
  return true;
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

/** A typed client per endpoint: DataLoader's `load`/`loadMany`. */
export type EndpointClient<D> = DataLoader<EndpointKey<D>, EndpointValue<D>, string>;
export type UpstreamClients<U extends Record<string, UpstreamDef<any>>> = {
  readonly [N in keyof U]: { readonly [E in keyof U[N]['endpoints']]: EndpointClient<U[N]['endpoints'][E]> };
};

/**
 * A short digest of an endpoint's declared response schema, part of its cache keys: a deploy that
 * changes what an upstream answers never reads entries cached in the old shape (from Redis, shared
 * with replicas still on the old version). A change of the mapping alone needs CACHE_VERSION.
 */
function shapeTag(schema: unknown): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('base64url').slice(0, 8);
}

export class Connector {
  readonly telemetry: Telemetry;
  private readonly runtimes = new Map<string, UpstreamRuntime>();
  private readonly cache: CacheStore | null;
  /** Cross-request coalescing: cache key → the in-flight call fetching that key. */
  private readonly inflight = new Map<string, Slot>();
  private readonly warnedUserVariance = new Set<string>();
  /** The prototype of every request's clients (a getter per upstream), built on first use. */
  private clientsProto: object | undefined;
  private readonly now: () => number;

  constructor(opts: ConnectorOptions) {
    this.telemetry = opts.telemetry;
    this.cache = opts.cache;
    this.now = opts.now ?? Date.now;
    const secrets = new SecretSource({ env: opts.env, allowSandboxDefaults: opts.sandboxMode });
    for (const def of opts.upstreams) {
      if (this.runtimes.has(def.name)) throw new ConfigurationError(`Two upstreams are named "${def.name}".`);
      const baseUrl = opts.baseUrls?.[def.name] ?? opts.env[def.baseUrlEnv];
      if (!baseUrl) throw new ConfigurationError(`Upstream "${def.name}" has no base URL: set ${def.baseUrlEnv}.`);
      const transport = new Transport({ baseUrl, connections: def.resolvedPolicy.connections, maxResponseBytes: def.resolvedPolicy.maxResponseBytes });
      const credentials = new CredentialProvider(
        def.auth,
        secrets,
        (tokenPath, id, secret, observer) => fetchOAuthToken(def.name, transport, tokenPath, id, secret, opts.telemetry, observer),
        this.now,
      );
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

  /**
   * Forget the held credentials (secret values, OAuth2 tokens) of these upstreams, or of every one, so
   * their next call reads the secrets again (rotation: a changed secret file, SIGHUP).
   */
  refreshCredentials(upstreams?: readonly string[]): void {
    for (const [name, rt] of this.runtimes) if (!upstreams || upstreams.includes(name)) rt.credentials.refresh();
  }

  /** The cache store in use, or null when caching is off. */
  get cacheStore(): CacheStore | null {
    return this.cache;
  }

  /** Calls in flight and queued for an upstream (readiness, tests). */
  inFlight(upstream: string): { executing: number; queued: number } {
    return this.runtimes.get(upstream)?.executor.load ?? { executing: 0, queued: 0 };
  }

  /** The upstream definitions in use, by name (perimeter map, admin routes). */
  get definitions(): ReadonlyMap<string, UpstreamDef> {
    return new Map([...this.runtimes].map(([n, rt]) => [n, rt.def]));
  }

  /** A request's view of the upstreams. */
  scope(init: ScopeInit): RequestScope {
    return new RequestScope(this, init);
  }

  /**
   * Typed clients for a scope: `clients.pricing.prices.load('SKU')`. One object per request; an
   * upstream's client is made when a resolver first uses it, and an endpoint's loader when it is first
   * loaded from. The prototypes (one getter per upstream and per endpoint) are built once.
   */
  clientsFor<U extends Record<string, UpstreamDef<any>>>(scope: RequestScope): UpstreamClients<U> {
    const o = Object.create((this.clientsProto ??= this.buildClientsProto())) as ClientsState;
    o[SCOPE] = scope;
    o[MADE] = undefined;
    return o as unknown as UpstreamClients<U>;
  }

  private buildClientsProto(): object {
    const proto = {};
    for (const [name, rt] of this.runtimes) {
      const upstreamProto = {};
      for (const ep of rt.endpoints.keys()) {
        const id = `${name}.${ep}`; // built once, not on every `.load`
        Object.defineProperty(upstreamProto, ep, {
          enumerable: true,
          get(this: { [SCOPE]: RequestScope }) {
            return this[SCOPE].loader(name, ep, id);
          },
        });
      }
      Object.defineProperty(proto, name, {
        enumerable: true,
        get(this: ClientsState) {
          const made = (this[MADE] ??= {});
          let client = made[name];
          if (!client) {
            const c = Object.create(upstreamProto) as { [SCOPE]: RequestScope };
            c[SCOPE] = this[SCOPE];
            made[name] = client = c;
          }
          return client;
        },
      });
    }
    return proto;
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
    const onError = ep.def.onError ?? ep.upstream.def.resolvedPolicy.onError;
    const cacheable = this.cache !== null && policy !== undefined && policy.scope !== 'none' && this.cacheSafe(ep, keys);
    let staleFallback: (CacheRead | undefined)[] | undefined;
    const failed = (i: number, error: unknown): unknown => {
      const fallback = this.onFailure(onError, staleFallback?.[i], policy, error);
      if (fallback.stale) this.cacheEvent(scope, up, ep.name, 'stale', 1, staleFallback![i]!.store);
      return fallback.value;
    };

    if (!cacheable) {
      // Not cached, so never shared: the calls are this request's own, under its deadline and
      // signal, each for a run of consecutive keys (usually all of them, in one call).
      const size = callSize(ep);
      const calls: Promise<void>[] = [];
      for (let start = 0; start < n; start += size) {
        const part = n <= size ? keys : keys.slice(start, start + size);
        calls.push(
          this.fetch(ep, part, scope).then(
            (result) => {
              for (let j = 0; j < part.length; j++) out[start + j] = result.values[j];
            },
            (error: unknown) => {
              for (let j = 0; j < part.length; j++) out[start + j] = failed(start + j, error);
            },
          ),
        );
      }
      await (calls.length === 1 ? calls[0] : Promise.all(calls));
      return out;
    }

    const ckeys = keys.map((k) => this.cacheKey(ep, policy!.scope, scope.user, k));
    const got = await this.cache!.getMany(ckeys);
    const now = this.now();
    const swr = policy!.staleWhileRevalidateMs ?? 0;
    const revalidate: number[] = [];
    const own: number[] = [];
    // The calls this request waits for, its own and others', each joined at once (so it counts as a
    // waiter from the moment it relies on the call): flight → its outcome and [index in keys, index in the call].
    const waits = new Map<Flight<unknown[]>, { readonly outcome: Promise<Outcome<unknown[]>>; readonly pairs: [number, number][] }>();
    let hits = 0;
    let stale = 0;
    let coalesced = 0;
    let store: string = this.cache!.name;
    for (let i = 0; i < n; i++) {
      const entry = got[i];
      if (entry && now < entry.f) {
        out[i] = entry.v;
        hits++;
        store = entry.store;
        continue;
      }
      if (entry && now < entry.f + swr) {
        // Stale but within stale-while-revalidate: answer now, refresh in the background (once).
        out[i] = entry.v;
        stale++;
        revalidate.push(i);
        continue;
      }
      if (entry) (staleFallback ??= new Array(n))[i] = entry; // kept for stale-if-error
      const running = this.inflight.get(ckeys[i]!);
      if (running) {
        coalesced++;
        let w = waits.get(running.flight);
        if (!w) waits.set(running.flight, (w = { outcome: running.flight.join(scope.deadline, scope.signal, ep.leave), pairs: [] }));
        w.pairs.push([i, running.index]);
      } else {
        own.push(i);
      }
    }
    for (const chunk of this.chunks(ep, own)) {
      const flight = this.startFlight(ep, chunk.map((i) => keys[i]), chunk.map((i) => ckeys[i]!), scope, scope.deadline, false);
      waits.set(flight, { outcome: flight.join(scope.deadline, scope.signal, ep.leave), pairs: chunk.map((i, j) => [i, j]) });
    }
    this.cacheEvent(scope, up, ep.name, 'hit', hits, store);
    this.cacheEvent(scope, up, ep.name, 'stale', stale, store);
    this.cacheEvent(scope, up, ep.name, 'coalesced', coalesced, 'inflight');
    this.cacheEvent(scope, up, ep.name, 'miss', own.length, this.cache!.name);
    if (revalidate.length > 0) this.revalidate(ep, keys, revalidate, ckeys, scope);
    // Every call, started here or joined, is waited for under this request's own deadline and signal.
    for (const { outcome, pairs } of waits.values()) {
      const o = await outcome;
      for (const [i, j] of pairs) out[i] = o.ok ? o.value[j] : failed(i, o.error);
    }
    return out;
  }

  /** What a failed key resolves to, by the endpoint's on-error choice. An Error value fails the field. */
  private onFailure(
    onError: OnErrorPolicy,
    stale: CacheRead | undefined,
    policy: CachePolicyInput | undefined,
    error: unknown,
  ): { value: unknown; stale: boolean } {
    if (onError === 'stale' && stale && this.now() < stale.f + (policy?.staleIfErrorMs ?? 0)) return { value: stale.v, stale: true };
    if (typeof onError === 'object' && onError !== null) return { value: onError.fallback, stale: false };
    return { value: error, stale: false };
  }

  /** Keys split into calls: one per `maxBatchSize` keys (batch endpoints) or one per key. */
  private chunks(ep: EndpointRuntime, idx: readonly number[]): number[][] {
    const size = callSize(ep);
    const chunks: number[][] = [];
    for (let i = 0; i < idx.length; i += size) chunks.push(idx.slice(i, i + size));
    return chunks;
  }

  /**
   * Refresh stale keys in the background, outside the request's lifetime (its signal does not apply;
   * its user does): under the policy's own budget, never abandoned by requests that join it. Keys
   * another call is already fetching are left to it, so each refreshes once.
   */
  private revalidate(ep: EndpointRuntime, keys: readonly unknown[], idx: readonly number[], ckeys: readonly string[], scope: RequestScope): void {
    const mine = idx.filter((i) => !this.inflight.has(ckeys[i]!));
    if (mine.length === 0) return;
    const deadline = performance.now() + ep.timeoutMs * ep.upstream.def.resolvedPolicy.retry.attempts;
    const origin = { requestId: scope.requestId, user: scope.user, propagate: scope.propagate, onAttempt: undefined };
    for (const chunk of this.chunks(ep, mine)) {
      this.startFlight(ep, chunk.map((i) => keys[i]), chunk.map((i) => ckeys[i]!), origin, deadline, true);
    }
  }

  /**
   * Start one shared call for these keys (cross-request coalescing), registered in the in-flight map
   * until it ends: on its own signal and deadline (see Flight), with the trace and user of the request
   * that started it. Its answer is stored whoever is still waiting for it.
   */
  private startFlight(
    ep: EndpointRuntime,
    keys: readonly unknown[],
    ckeys: readonly string[],
    origin: Pick<FetchContext, 'requestId' | 'user' | 'propagate' | 'onAttempt'>,
    deadline: number,
    background: boolean,
  ): Flight<unknown[]> {
    const policy = ep.def.cache!;
    const slots: Slot[] = [];
    const flight = new Flight<unknown[]>({
      deadline,
      background,
      onEnd: () => {
        ckeys.forEach((k, j) => {
          if (this.inflight.get(k) === slots[j]) this.inflight.delete(k);
        });
      },
    });
    ckeys.forEach((k, j) => {
      const slot = { flight, index: j };
      slots.push(slot);
      this.inflight.set(k, slot);
    });
    const ctx: FetchContext = {
      requestId: origin.requestId,
      user: origin.user,
      propagate: origin.propagate,
      onAttempt: origin.onAttempt,
      signal: flight.signal,
      // Moves later when a request with more time joins.
      get deadline() {
        return flight.deadline;
      },
    };
    return flight.run(async () => {
      const result = await this.fetch(ep, keys, ctx);
      const ttl = effectiveTtl(policy, result.cacheControl);
      if (ttl > 0) {
        const entry = (v: unknown) => ({ v, f: this.now() + ttl });
        const keep = ttl + Math.max(policy.staleWhileRevalidateMs ?? 0, policy.staleIfErrorMs ?? 0);
        ckeys.forEach((k, j) => void this.cache!.set(k, entry(result.values[j]), keep));
      }
      return result.values;
    });
  }

  /** `<upstream>:<endpoint>:<shape>:<scope>:<key>`; the user is part of the key only for `user`-scoped endpoints. */
  private cacheKey(ep: EndpointRuntime, scope: CacheScope, user: { readonly id: string } | null, key: unknown): string {
    const part = scope === 'user' ? (user ? `u:${user.id}:` : 'u-:') : 'p:';
    return ep.cachePrefix + part + ep.keyId(key);
  }

  /**
   * Fail closed: a request builder that reads the user makes a response that varies by user; unless
   * the endpoint declares `scope: 'user'`, it is never cached or shared.
   */
  private cacheSafe(ep: EndpointRuntime, keys: readonly unknown[]): boolean {
    if (ep.def.cache!.scope === 'user' || !this.readsUser(ep, keys)) return true;
    if (!this.warnedUserVariance.has(ep.cachePrefix)) {
      this.warnedUserVariance.add(ep.cachePrefix);
      process.emitWarning(`${ep.upstream.def.name}.${ep.name} reads the user but its cache scope is "${ep.def.cache!.scope}": not caching it.`);
    }
    return false;
  }

  /**
   * Remove cached values: by exact keys of an endpoint (public and every user's copies are matched
   * by prefix), or everything of an endpoint or an upstream. Every replica's memory layer drops them too.
   */
  async invalidate(req: { upstream: string; endpoint?: string | undefined; keys?: readonly unknown[] | undefined }): Promise<number> {
    if (!this.cache) return 0;
    const rt = this.runtimes.get(req.upstream);
    if (!rt) throw new ConfigurationError(`No upstream "${req.upstream}".`);
    if (req.endpoint === undefined) return this.cache.invalidate({ prefix: `${req.upstream}:` });
    const ep = rt.endpoints.get(req.endpoint);
    if (!ep) throw new ConfigurationError(`No endpoint "${req.upstream}.${req.endpoint}".`);
    if (!req.keys) return this.cache.invalidate({ prefix: ep.cachePrefix });
    if (ep.def.cache?.scope === 'user') {
      // Every user's copy of a key cannot be listed without scanning each user; drop the endpoint's
      // user-scoped entries instead (over-invalidating is safe, under-invalidating is not).
      return this.cache.invalidate({ prefix: `${ep.cachePrefix}u` });
    }
    return this.cache.invalidate({ keys: req.keys.map((k) => this.cacheKey(ep, 'public', null, k)) });
  }

  private cacheEvent(scope: RequestScope, upstream: string, endpoint: string, status: CacheStatus, keys: number, store: string): void {
    if (keys === 0) return;
    const e = { upstream, endpoint, status, keys, store, at: performance.now() };
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
  private async fetch(ep: EndpointRuntime, keys: readonly unknown[], ctx: FetchContext): Promise<{ values: unknown[]; cacheControl: string | undefined }> {
    const rt = ep.upstream;
    const callCtx: CallContext = { user: ctx.user };
    const call = (path: string, body: unknown, keys: number, notFoundIsNull: boolean): CallOptions => new Call(ep, ctx, path, body, keys, notFoundIsNull);
    if (ep.def.kind === 'batch') {
      const def = ep.def as BatchEndpointDef<unknown, any, unknown, unknown, 'one' | 'many'>;
      const spec = def.request(keys, callCtx);
      const res = await rt.executor.call(call(rt.transport.path(spec), spec.body, keys.length, false));
      if (res === NOT_FOUND) return { values: keys.map(() => (def.cardinality === 'many' ? [] : null)), cacheControl: undefined };
      const many = def.cardinality === 'many';
      const items = def.items(res.body);
      if (!many && inKeyOrder(items, keys, def.itemKey, ep.keyId)) {
        // One item per key, in the order asked (what batch upstreams usually answer): no index needed.
        return { values: items.map((item) => def.map(item) ?? null), cacheControl: res.cacheControl };
      }
      const byKey = new Map<string, unknown>();
      for (const item of items) {
        const k = def.itemKey(item);
        if (many) {
          const list = byKey.get(k) as unknown[] | undefined;
          if (list) list.push(def.map(item));
          else byKey.set(k, [def.map(item)]);
        } else if (!byKey.has(k)) {
          byKey.set(k, def.map(item));
        }
      }
      return { values: keys.map((k) => byKey.get(ep.keyId(k)) ?? (many ? [] : null)), cacheControl: res.cacheControl };
    }
    const def = ep.def as SingleEndpointDef<unknown, any, unknown>;
    const key = keys[0];
    const spec = def.request(key, callCtx);
    const res = await rt.executor.call(call(rt.transport.path(spec), spec.body, 1, def.notFoundIsNull === true));
    if (res === NOT_FOUND) return { values: [null], cacheControl: undefined };
    return { values: [def.map(res.body, key)], cacheControl: res.cacheControl };
  }

  async close(): Promise<void> {
    await Promise.all([...this.runtimes.values()].map((rt) => rt.transport.close().catch(() => rt.transport.destroy())));
  }
}

/**
 * A token fetch's own limit, ms. It is shared and outlives its callers (a retry, or the next request,
 * joins it); each call waiting for it gives up at its own attempt's timeout or deadline.
 */
const TOKEN_FETCH_TIMEOUT_MS = 5_000;

/**
 * Fetch an OAuth2 client-credentials token. The fetch is an upstream call like any other for
 * telemetry (an `attempt` event, endpoint `oauthToken`, never with its body) and for the trace of
 * the request that started it.
 */
async function fetchOAuthToken(
  upstream: string,
  transport: Transport,
  tokenPath: string,
  clientId: string,
  clientSecret: string,
  telemetry: Telemetry,
  observer: TokenObserver | undefined,
): Promise<{ accessToken: string; expiresInS: number }> {
  const where = { upstream, endpoint: 'oauthToken' };
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
  const ac = new Cancel();
  const t = setTimeout(() => ac.abort(), TOKEN_FETCH_TIMEOUT_MS);
  const path = transport.path({ path: tokenPath });
  const start = performance.now();
  let status = 0;
  let bytes = 0;
  let errorCode: string | undefined;
  try {
    const res = await transport.send(
      'POST',
      path,
      { ...observer?.headers, authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
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
    telemetry.emit('attempt', event);
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
  /** The request's token, following its abort signal: every call of the request listens to it. */
  readonly signal: Cancel | undefined;
  readonly propagate: Record<string, string> | undefined;
  readonly startedAt = performance.now();
  readonly attempts: AttemptEvent[] = [];
  readonly cacheEvents: { upstream: string; endpoint: string; status: CacheStatus; keys: number; store: string; at: number }[] = [];
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
    this.signal = Cancel.follow(init.signal);
    this.propagate = init.propagate;
  }

  loader(upstream: string, endpoint: string, id = `${upstream}.${endpoint}`): DataLoader<unknown, unknown, string> {
    let l = this.loaders.get(id);
    if (!l) {
      const ep = this.connector.endpoint(upstream, endpoint);
      l = new DataLoader<unknown, unknown, string>((keys) => this.connector.load(ep, keys, this), { cacheKeyFn: ep.keyId });
      this.loaders.set(id, l);
    }
    return l;
  }
}
