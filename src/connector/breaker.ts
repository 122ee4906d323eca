/**
 * An upstream's circuit breaker: cockatiel's `circuitBreaker`, shared by every request to the
 * upstream, opened by either of two of cockatiel's breakers: the failure ratio over a sliding window
 * (`SamplingBreaker`), or failures in a row (`ConsecutiveBreaker`, as Envoy's outlier detection
 * ejects a host after 5 consecutive 5xx). The ratio alone is slow to see a hard-down upstream after
 * healthy traffic: the window's earlier successes keep the ratio low while every new call fails.
 */
import {
  CircuitState,
  ConsecutiveBreaker,
  SamplingBreaker,
  circuitBreaker,
  handleWhen,
  type CircuitBreakerPolicy,
  type IBreaker,
} from 'cockatiel';
import { isUpstreamError } from '../errors.js';
import type { ResolvedPolicy } from './define.js';
import type { BreakerState } from './events.js';

/** `extensions.reason` of an answer larger than the upstream's `maxResponseBytes`. */
export const TOO_LARGE = 'responseTooLarge';

/** @internal An attempt ended because its caller no longer wants it (hedge lost, client gone). Not a failure of the upstream. */
export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

export const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'isolated',
};

/** Errors that say the upstream is unhealthy (they count against the breaker). */
export function countsAgainstBreaker(e: unknown): boolean {
  if (e instanceof CancelledError) return false;
  if (!isUpstreamError(e)) return true;
  // An answer larger than the upstream's declared limit, whatever its status, is the upstream
  // misbehaving (a paging bug, a runaway list): it costs us the bytes up to the limit every time, so
  // when most calls get one the breaker should open and fail fast. An occasional large key stays
  // below the breaker's failure ratio.
  if (e.extensions.reason === TOO_LARGE) return true;
  if (e.code === 'UPSTREAM_TIMEOUT' || e.code === 'UPSTREAM_UNAVAILABLE') return true;
  return e.code === 'UPSTREAM_ERROR' && (e.status === undefined || e.status === 0 || e.status >= 500 || e.status === 429);
}

/**
 * Opens when either breaker says so. Both hear every outcome, so each keeps its own count whichever
 * opened the circuit. (cockatiel has no composite breaker; this is its `IBreaker` contract, two calls.)
 */
class EitherBreaker implements IBreaker {
  constructor(
    private readonly ratio: SamplingBreaker,
    private readonly consecutive: ConsecutiveBreaker,
  ) {}

  get state(): unknown {
    return { ratio: this.ratio.state, consecutive: this.consecutive.state };
  }

  set state(value: unknown) {
    const v = value as { ratio: unknown; consecutive: number };
    this.ratio.state = v.ratio;
    this.consecutive.state = v.consecutive;
  }

  success(state: CircuitState): void {
    this.ratio.success(state);
    this.consecutive.success();
  }

  failure(state: CircuitState): boolean {
    const byRatio = this.ratio.failure(state);
    const inARow = this.consecutive.failure();
    return byRatio || inARow;
  }
}

/** The upstream's breaker policy, or undefined when its policy turns the breaker off. */
export function createBreaker(policy: ResolvedPolicy['breaker']): CircuitBreakerPolicy | undefined {
  if (!policy) return undefined;
  const ratio = new SamplingBreaker({
    threshold: policy.failureRatio,
    duration: policy.windowMs,
    minimumRps: policy.minimumCalls / (policy.windowMs / 1000),
  });
  return circuitBreaker(handleWhen(countsAgainstBreaker), {
    halfOpenAfter: policy.halfOpenAfterMs,
    breaker: policy.consecutiveFailures === false ? ratio : new EitherBreaker(ratio, new ConsecutiveBreaker(policy.consecutiveFailures)),
  });
}
