/**
 * Cross-request coalescing: concurrent requests that need the same cache key share one in-flight
 * call (within the same cache scope, as the key carries it). Each call is a Flight (./flight.ts):
 * every request joins it under its own deadline and signal; the call runs on its own token and the
 * latest deadline, and stores its answer in the cache whoever is still waiting for it.
 */
import type { CacheReader } from './cache-read.js';
import { Flight, type Outcome } from './flight.js';
import type { EndpointRuntime } from './registry.js';
import type { RequestScope } from './request-scope.js';
import { fetchKeys, type FetchContext } from './upstream-call.js';

/** A key's place in a shared call: the call, and the key's index among the call's keys. */
interface Slot {
  readonly flight: Flight<unknown[]>;
  readonly index: number;
}

/** A call a request waits for (its own or another's): its outcome, and [index in the batch, index in the call] pairs. */
export interface Wait {
  readonly outcome: Promise<Outcome<unknown[]>>;
  readonly pairs: [number, number][];
}

/** Keys per upstream call: the endpoint's maximum batch (batch endpoints), or one (single endpoints). */
export const callSize = (ep: EndpointRuntime): number => (ep.def.kind === 'batch' ? ep.def.maxBatchSize : 1);

/** Keys split into calls: one per `maxBatchSize` keys (batch endpoints) or one per key. */
function chunks(ep: EndpointRuntime, idx: readonly number[]): number[][] {
  const size = callSize(ep);
  const out: number[][] = [];
  for (let i = 0; i < idx.length; i += size) out.push(idx.slice(i, i + size));
  return out;
}

type Origin = Pick<FetchContext, 'requestId' | 'user' | 'propagate' | 'trace' | 'onAttempt'>;

export class Coalescing {
  /** Cache key → the in-flight call fetching that key. */
  private readonly inflight = new Map<string, Slot>();

  constructor(private readonly cache: CacheReader) {}

  /**
   * The calls a request waits for to answer its `missing` keys: a call already fetching a key is
   * joined, the others are started (split at the endpoint's batch size). Each is joined at once, so
   * the request counts as a waiter from the moment it relies on the call. Returns the number of keys
   * joined to others' calls (coalesced).
   */
  assign(
    ep: EndpointRuntime,
    keys: readonly unknown[],
    cacheKeys: readonly string[],
    missing: readonly number[],
    scope: RequestScope,
    waits: Map<Flight<unknown[]>, Wait>,
  ): number {
    const own: number[] = [];
    let coalesced = 0;
    for (const i of missing) {
      const running = this.inflight.get(cacheKeys[i]!);
      if (running) {
        coalesced++;
        let w = waits.get(running.flight);
        if (!w) waits.set(running.flight, (w = { outcome: running.flight.join(scope.deadline, scope.signal, ep.leave), pairs: [] }));
        w.pairs.push([i, running.index]);
      } else {
        own.push(i);
      }
    }
    for (const chunk of chunks(ep, own)) {
      const flight = this.start(
        ep,
        chunk.map((i) => keys[i]),
        chunk.map((i) => cacheKeys[i]!),
        scope,
        scope.deadline,
        false,
      );
      waits.set(flight, { outcome: flight.join(scope.deadline, scope.signal, ep.leave), pairs: chunk.map((i, j) => [i, j]) });
    }
    return coalesced;
  }

  /**
   * Refresh stale keys in the background, outside the request's lifetime (its signal does not apply;
   * its user does): under the policy's own budget, never abandoned by requests that join it. Keys
   * another call is already fetching are left to it, so each refreshes once.
   */
  refresh(ep: EndpointRuntime, keys: readonly unknown[], idx: readonly number[], cacheKeys: readonly string[], scope: RequestScope): void {
    const mine = idx.filter((i) => !this.inflight.has(cacheKeys[i]!));
    if (mine.length === 0) return;
    const deadline = performance.now() + ep.timeoutMs * ep.upstream.def.resolvedPolicy.retry.attempts;
    const origin: Origin = { requestId: scope.requestId, user: scope.user, propagate: scope.propagate, trace: scope.trace, onAttempt: undefined };
    for (const chunk of chunks(ep, mine)) {
      this.start(
        ep,
        chunk.map((i) => keys[i]),
        chunk.map((i) => cacheKeys[i]!),
        origin,
        deadline,
        true,
      );
    }
  }

  /**
   * Start one shared call for these keys, registered in the in-flight map until it ends: on its own
   * signal and deadline (see Flight), with the trace and user of the request that started it. Its
   * answer is stored whoever is still waiting for it.
   */
  private start(ep: EndpointRuntime, keys: readonly unknown[], cacheKeys: readonly string[], origin: Origin, deadline: number, background: boolean): Flight<unknown[]> {
    const slots: Slot[] = [];
    const flight = new Flight<unknown[]>({
      deadline,
      background,
      onEnd: () => {
        for (let j = 0; j < cacheKeys.length; j++) if (this.inflight.get(cacheKeys[j]!) === slots[j]) this.inflight.delete(cacheKeys[j]!);
      },
    });
    for (let j = 0; j < cacheKeys.length; j++) {
      const slot = { flight, index: j };
      slots.push(slot);
      this.inflight.set(cacheKeys[j]!, slot);
    }
    const ctx: FetchContext = {
      requestId: origin.requestId,
      user: origin.user,
      propagate: origin.propagate,
      trace: origin.trace,
      onAttempt: origin.onAttempt,
      signal: flight.signal,
      // Moves later when a request with more time joins.
      get deadline() {
        return flight.deadline;
      },
    };
    return flight.run(async () => {
      const result = await fetchKeys(ep, keys, ctx);
      this.cache.write(ep, cacheKeys, result.values, result.cacheControl);
      return result.values;
    });
  }
}
