/**
 * The connector: the engine's entry point. It holds the registry of upstreams (./registry.ts), makes
 * each request's scope (./request-scope.ts) and typed clients (./clients.ts), and answers the
 * batches of their loaders (./batch-load.ts: cache read, coalescing, fallback) and their write calls
 * (./write-call.ts). Admin and health routes read and act on it here (breaker states, in-flight
 * calls, credentials, cache invalidation).
 */
import { ConfigurationError } from '../errors.js';
import { BatchLoader } from './batch-load.js';
import type { CacheStore } from './cache.js';
import { CacheReader } from './cache-read.js';
import type { Cancel } from './cancel.js';
import { buildClientsProto, clientsOn, type UpstreamClients } from './clients.js';
import { Coalescing } from './coalescing.js';
import type { UpstreamDef } from './define.js';
import type { Telemetry } from './events.js';
import { buildRegistry, type EndpointRuntime, type UpstreamRuntime } from './registry.js';
import { RequestScope, type ScopeInit } from './request-scope.js';
import type { WriteCallOptions } from './types.js';
import { callOnce } from './write-call.js';

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

/**
 * @example
 * const connector = new Connector({ upstreams: [pricing], env: process.env, sandboxMode: false, cache: null, telemetry: new Telemetry() });
 * const scope = connector.scope({ requestId, user: null, deadline: performance.now() + 5_000 });
 * const clients = connector.clientsFor<{ pricing: typeof pricing }>(scope);
 * await clients.pricing.prices.load('SKU-1');
 */
export class Connector {
  readonly telemetry: Telemetry;
  private readonly runtimes: Map<string, UpstreamRuntime>;
  private readonly cache: CacheStore | null;
  private readonly batches: BatchLoader;
  /** The prototype of every request's clients (a getter per upstream), built on first use. */
  private clientsProto: object | undefined;

  constructor(opts: ConnectorOptions) {
    this.telemetry = opts.telemetry;
    this.cache = opts.cache;
    const now = opts.now ?? Date.now;
    this.runtimes = buildRegistry(opts, now);
    const reader = opts.cache ? new CacheReader(opts.cache, opts.telemetry, now) : null;
    this.batches = new BatchLoader(reader, reader ? new Coalescing(reader) : null, now);
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

  /** Typed clients for a scope: `clients.pricing.prices.load('SKU')`, `clients.orders.create.call(input, { idempotencyKey })`. */
  clientsFor<U extends Record<string, UpstreamDef<any>>>(scope: RequestScope): UpstreamClients<U> {
    return clientsOn<U>((this.clientsProto ??= buildClientsProto(this.runtimes)), scope);
  }

  /** @internal an endpoint's runtime, for a scope's loader. */
  endpoint(upstream: string, endpoint: string): EndpointRuntime {
    const ep = this.runtimes.get(upstream)?.endpoints.get(endpoint);
    if (!ep) throw new ConfigurationError(`No endpoint ${upstream}.${endpoint}.`);
    return ep;
  }

  /** @internal the batch function behind a scope's loader: cache, coalesce, then fetch what is left. */
  load(ep: EndpointRuntime, keys: readonly unknown[], scope: RequestScope): Promise<unknown[]> {
    return this.batches.load(ep, keys, scope);
  }

  /** @internal a scope's write call (`client.<upstream>.<endpoint>.call`). */
  write(ep: EndpointRuntime, input: unknown, scope: RequestScope, options: WriteCallOptions | undefined): Promise<unknown> {
    return callOnce(ep, input, scope, options);
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
    return this.cache.invalidate({ keys: req.keys.map((k) => `${ep.cachePrefix}p:${ep.keyId(k)}`) });
  }

  async close(): Promise<void> {
    await Promise.all([...this.runtimes.values()].map((rt) => rt.transport.close().catch(() => rt.transport.destroy())));
  }
}

