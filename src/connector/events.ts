/**
 * Telemetry events. Policies and the cache emit; traces, metrics and logs listen. Nothing inside a
 * policy logs by itself (the cockatiel way: `onRetry`, `onGiveUp`).
 */

export type CacheStatus = 'hit' | 'miss' | 'stale' | 'coalesced' | 'bypass';
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated' | 'none';

/** One HTTP attempt to an upstream (a logical call with retries has several). */
export interface AttemptEvent {
  readonly upstream: string;
  readonly endpoint: string;
  readonly method: string;
  /** Path with query; never carries a credential (credentials travel in headers only). */
  readonly path: string;
  readonly keys: number;
  readonly attempt: number;
  readonly hedge: boolean;
  readonly breaker: BreakerState;
  /** 0 when no response arrived. */
  readonly status: number;
  readonly bytes: number;
  /** performance.now() at start, and duration, in ms. */
  readonly start: number;
  readonly durationMs: number;
  /** Error code when the attempt failed (UPSTREAM_TIMEOUT, ...). */
  readonly error?: string | undefined;
  /** JSON pointer of the first mismatch with the declared response schema (both contract modes). */
  readonly contractViolation?: string | undefined;
  /** Write calls with an idempotency key: a digest of the key (never the key), the same for each attempt. */
  readonly idempotencyKeyHash?: string | undefined;
  /** Debug level only: the parsed response body, for masking and display by the trace. */
  readonly body?: unknown;
}

export interface EngineEvents {
  attempt: AttemptEvent;
  retry: { upstream: string; endpoint: string; attempt: number; delayMs: number; reason: string };
  retryBudgetExhausted: { upstream: string; endpoint: string };
  hedge: { upstream: string; endpoint: string; attempt: number; delayMs: number };
  breakerState: { upstream: string; state: BreakerState };
  bulkheadRejected: { upstream: string; endpoint: string };
  cache: { upstream: string; endpoint: string; status: CacheStatus; keys: number; store: string; at?: number };
  contractViolation: { upstream: string; endpoint: string; path: string; mode: 'enforce' | 'report' };
  upstreamFailure: { upstream: string; endpoint: string; code: string; status: number; message: string; attempt: number; requestId: string | undefined };
}

type Listener<T> = (event: T) => void;

/** A small typed emitter. Listener errors are swallowed so telemetry can never break a call. */
export class Telemetry {
  private readonly listeners: { [K in keyof EngineEvents]?: Listener<EngineEvents[K]>[] } = {};

  on<K extends keyof EngineEvents>(name: K, fn: Listener<EngineEvents[K]>): () => void {
    const list = (this.listeners[name] ??= []) as Listener<EngineEvents[K]>[];
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  has(name: keyof EngineEvents): boolean {
    return (this.listeners[name]?.length ?? 0) > 0;
  }

  emit<K extends keyof EngineEvents>(name: K, event: EngineEvents[K]): void {
    const list = this.listeners[name] as Listener<EngineEvents[K]>[] | undefined;
    if (!list) return;
    for (const fn of list) {
      try {
        fn(event);
      } catch {
        // a broken listener must not break the call it observes
      }
    }
  }
}
