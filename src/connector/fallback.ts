/**
 * What a key whose call failed resolves to, by its endpoint's on-error choice: the error itself (an
 * Error value fails the field: `'null'`), the declared fallback value, or the last good cached value
 * within `staleIfErrorMs` (`'stale'`; the error when there is none).
 */
import type { CacheRead } from './cache.js';
import type { CachePolicyInput, OnErrorPolicy } from './types.js';

/** Returned by `valueOnFailure` when the value is a stale cached one (the caller counts a `stale` cache event). */
export interface FailureValue {
  readonly value: unknown;
  readonly stale: boolean;
}

/** `now`: the wall clock (epoch ms) the cache entry's freshness is in, read only for a stale value. */
export function valueOnFailure(
  onError: OnErrorPolicy,
  stale: CacheRead | undefined,
  policy: CachePolicyInput | undefined,
  error: unknown,
  now: () => number,
): FailureValue {
  if (onError === 'stale' && stale && now() < stale.freshUntil + (policy?.staleIfErrorMs ?? 0)) return { value: stale.value, stale: true };
  if (typeof onError === 'object' && onError !== null) return { value: onError.fallback, stale: false };
  return { value: error, stale: false };
}
