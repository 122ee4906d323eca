/**
 * The cache's side of a batch: which keys may be cached at all (fail closed on user variance), their
 * cache keys, the read with stale-while-revalidate (fresh → answered; stale within the window →
 * answered and refreshed in the background; older → fetched, kept for stale-if-error), the TTL and
 * store of a fetched value, and the request's cache events.
 */
import type { CacheRead, CacheStore } from './cache.js';
import type { CacheStatus, Telemetry } from './events.js';
import type { EndpointRuntime } from './registry.js';
import type { RequestScope } from './request-scope.js';
import type { CachePolicyInput, CacheScope, CallContext } from './types.js';

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

/** A batch's keys as read from the cache. Indexes are positions in the batch's keys. */
export interface CachedBatch {
  /** The cache key of every key. */
  readonly cacheKeys: string[];
  /** Keys not answered from the cache: to fetch (or to join a call fetching them). */
  readonly missing: number[];
  /** Keys answered stale within stale-while-revalidate: to refresh in the background. */
  readonly revalidate: number[];
  /** Entries past every fresh window, kept for stale-if-error, by key index (none when there are none). */
  readonly staleFallback: (CacheRead | undefined)[] | undefined;
}

export class CacheReader {
  private readonly warnedUserVariance = new Set<string>();

  constructor(
    readonly store: CacheStore,
    private readonly telemetry: Telemetry,
    /** Wall clock (epoch ms), as entries' freshness is. */
    private readonly now: () => number,
  ) {}

  /** May these keys of the endpoint be cached (and shared)? Its policy says so and its request does not vary by user unseen. */
  cacheable(ep: EndpointRuntime, keys: readonly unknown[]): boolean {
    const policy = ep.def.cache;
    return policy !== undefined && policy.scope !== 'none' && this.cacheSafe(ep, keys);
  }

  /** `<upstream>:<endpoint>:<shape>:<scope>:<key>`; the user is part of the key only for `user`-scoped endpoints. */
  key(ep: EndpointRuntime, scope: CacheScope, user: { readonly id: string } | null, key: unknown): string {
    const part = scope === 'user' ? (user ? `u:${user.id}:` : 'u-:') : 'p:';
    return ep.cachePrefix + part + ep.keyId(key);
  }

  /**
   * Read a batch's keys: fresh and stale-while-revalidate values go into `out` at their index, with
   * their cache events; the rest are `missing`.
   */
  async read(ep: EndpointRuntime, keys: readonly unknown[], scope: RequestScope, out: unknown[]): Promise<CachedBatch> {
    const policy = ep.def.cache!;
    const n = keys.length;
    const cacheKeys = new Array<string>(n);
    for (let i = 0; i < n; i++) cacheKeys[i] = this.key(ep, policy.scope, scope.user, keys[i]);
    const got = await this.store.getMany(cacheKeys);
    const now = this.now();
    const swr = policy.staleWhileRevalidateMs ?? 0;
    const missing: number[] = [];
    const revalidate: number[] = [];
    let staleFallback: (CacheRead | undefined)[] | undefined;
    let hits = 0;
    let store: string = this.store.name;
    for (let i = 0; i < n; i++) {
      const entry = got[i];
      if (entry && now < entry.freshUntil) {
        out[i] = entry.value;
        hits++;
        store = entry.store;
      } else if (entry && now < entry.freshUntil + swr) {
        // Stale but within stale-while-revalidate: answer now, refresh in the background (once).
        out[i] = entry.value;
        revalidate.push(i);
      } else {
        if (entry) (staleFallback ??= new Array(n))[i] = entry; // kept for stale-if-error
        missing.push(i);
      }
    }
    this.event(scope, ep, 'hit', hits, store);
    this.event(scope, ep, 'stale', revalidate.length, store);
    return { cacheKeys, missing, revalidate, staleFallback };
  }

  /** Store a fetched batch's values under their cache keys, for the TTL the upstream allows. */
  write(ep: EndpointRuntime, cacheKeys: readonly string[], values: readonly unknown[], cacheControl: string | undefined): void {
    const policy = ep.def.cache!;
    const ttl = effectiveTtl(policy, cacheControl);
    if (ttl <= 0) return;
    const freshUntil = this.now() + ttl;
    const keep = ttl + Math.max(policy.staleWhileRevalidateMs ?? 0, policy.staleIfErrorMs ?? 0);
    for (let j = 0; j < cacheKeys.length; j++) void this.store.set(cacheKeys[j]!, { value: values[j], freshUntil }, keep);
  }

  /** Count a cache outcome on the request (its trace) and for telemetry. */
  event(scope: RequestScope, ep: EndpointRuntime, status: CacheStatus, keys: number, store: string): void {
    if (keys === 0) return;
    const e = { upstream: ep.upstream.def.name, endpoint: ep.name, status, keys, store, at: performance.now() };
    scope.cacheEvents.push(e);
    this.telemetry.emit('cache', e);
  }

  /**
   * Fail closed: a request builder that reads the user makes a response that varies by user; unless
   * the endpoint declares `scope: 'user'`, it is never cached or shared.
   */
  private cacheSafe(ep: EndpointRuntime, keys: readonly unknown[]): boolean {
    if (ep.def.cache!.scope === 'user' || !readsUser(ep, keys)) return true;
    if (!this.warnedUserVariance.has(ep.cachePrefix)) {
      this.warnedUserVariance.add(ep.cachePrefix);
      process.emitWarning(`${ep.upstream.def.name}.${ep.name} reads the user but its cache scope is "${ep.def.cache!.scope}": not caching it.`);
    }
    return false;
  }
}

/** Does the endpoint's request builder read the user for these keys? (It is pure; calling it is cheap.) */
function readsUser(ep: EndpointRuntime, keys: readonly unknown[]): boolean {
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
