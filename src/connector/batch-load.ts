/**
 * The batch function behind every request's DataLoader: a batch of keys of one endpoint, answered in
 * key order with one value per key (a failure is a value, as DataLoader expects).
 *
 * Not cached (no store, no cache policy, or a request that varies by user unseen): the request's own
 * calls, under its deadline and signal, one per run of `maxBatchSize` keys (usually one). Cached: the
 * cache read (./cache-read.ts), then coalescing (./coalescing.ts) for what is left; a key whose call
 * failed gets its endpoint's on-error value (./fallback.ts).
 */
import type { CacheRead } from './cache.js';
import type { CacheReader } from './cache-read.js';
import { callSize, type Coalescing, type Wait } from './coalescing.js';
import { valueOnFailure } from './fallback.js';
import type { Flight } from './flight.js';
import type { EndpointRuntime } from './registry.js';
import type { RequestScope } from './request-scope.js';
import { fetchKeys } from './upstream-call.js';

export class BatchLoader {
  constructor(
    /** null: caching (and cross-request coalescing) off. */
    private readonly cache: CacheReader | null,
    private readonly coalescing: Coalescing | null,
    /** Wall clock (epoch ms), as cache entries' freshness is. */
    private readonly now: () => number,
  ) {}

  /** One value per key, in key order. (Not async itself: one promise per batch, the path's own.) */
  load(ep: EndpointRuntime, keys: readonly unknown[], scope: RequestScope): Promise<unknown[]> {
    if (this.cache === null || !this.cache.cacheable(ep, keys)) return this.loadOwn(ep, keys, scope);
    return this.loadCached(this.cache, ep, keys, scope);
  }

  /**
   * Not cached, so never shared: the calls are this request's own, under its deadline and signal,
   * each for a run of consecutive keys (usually all of them, in one call), written into `out` in place.
   */
  private async loadOwn(ep: EndpointRuntime, keys: readonly unknown[], scope: RequestScope): Promise<unknown[]> {
    const n = keys.length;
    const out = new Array<unknown>(n);
    const size = callSize(ep);
    const calls: Promise<void>[] = [];
    for (let start = 0; start < n; start += size) {
      const part = n <= size ? keys : keys.slice(start, start + size);
      calls.push(
        fetchKeys(ep, part, scope).then(
          (result) => {
            for (let j = 0; j < part.length; j++) out[start + j] = result.values[j];
          },
          (error: unknown) => {
            for (let j = 0; j < part.length; j++) out[start + j] = this.failed(ep, scope, undefined, start + j, error);
          },
        ),
      );
    }
    await (calls.length === 1 ? calls[0] : Promise.all(calls));
    return out;
  }

  private async loadCached(cache: CacheReader, ep: EndpointRuntime, keys: readonly unknown[], scope: RequestScope): Promise<unknown[]> {
    const out = new Array<unknown>(keys.length);
    const batch = await cache.read(ep, keys, scope, out);
    // The calls this request waits for, its own and others': flight → its outcome and index pairs.
    const waits = new Map<Flight<unknown[]>, Wait>();
    const coalescing = this.coalescing!;
    const coalesced = coalescing.assign(ep, keys, batch.cacheKeys, batch.missing, scope, waits);
    cache.event(scope, ep, 'coalesced', coalesced, 'inflight');
    cache.event(scope, ep, 'miss', batch.missing.length - coalesced, cache.store.name);
    if (batch.revalidate.length > 0) coalescing.refresh(ep, keys, batch.revalidate, batch.cacheKeys, scope);
    // Every call, started here or joined, is waited for under this request's own deadline and signal.
    for (const { outcome, pairs } of waits.values()) {
      const o = await outcome;
      for (const [i, j] of pairs) out[i] = o.ok ? o.value[j] : this.failed(ep, scope, batch.staleFallback, i, o.error);
    }
    return out;
  }

  /** What key `i` resolves to when its call failed, by the endpoint's on-error choice. */
  private failed(ep: EndpointRuntime, scope: RequestScope, staleFallback: (CacheRead | undefined)[] | undefined, i: number, error: unknown): unknown {
    const onError = ep.def.onError ?? ep.upstream.def.resolvedPolicy.onError;
    const stale = staleFallback?.[i];
    const fallback = valueOnFailure(onError, stale, ep.def.cache, error, this.now);
    if (fallback.stale) this.cache!.event(scope, ep, 'stale', 1, stale!.store);
    return fallback.value;
  }
}
