/**
 * Everything one GraphQL request knows about its upstream calls: its identity, deadline and signal
 * (every call of the request runs under them), its loaders (one per endpoint, made on first use), the
 * attempts made (the trace), and cache outcomes.
 */
import type { UpstreamTrace } from './call-trace.js';
import { Cancel } from './cancel.js';
import type { Connector } from './connector.js';
import { EndpointLoader } from './endpoint-client.js';
import type { AttemptEvent, CacheStatus } from './events.js';
import type { FetchContext } from './upstream-call.js';

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
  /** Each upstream attempt's own span and trace headers (./call-trace.ts); without it, `propagate` is sent as is. */
  readonly trace?: UpstreamTrace | undefined;
}

export class RequestScope implements FetchContext {
  readonly requestId: string;
  readonly user: { readonly id: string } | null;
  readonly deadline: number;
  /** The request's token, following its abort signal: every call of the request listens to it. */
  readonly signal: Cancel | undefined;
  readonly propagate: Record<string, string> | undefined;
  readonly trace: UpstreamTrace | undefined;
  readonly startedAt = performance.now();
  readonly attempts: AttemptEvent[] = [];
  readonly cacheEvents: { upstream: string; endpoint: string; status: CacheStatus; keys: number; store: string; at: number }[] = [];
  readonly onAttempt = (e: AttemptEvent): void => {
    this.attempts.push(e);
  };
  private readonly loaders = new Map<string, EndpointLoader>();

  constructor(
    private readonly connector: Connector,
    init: ScopeInit,
  ) {
    this.requestId = init.requestId;
    this.user = init.user;
    this.deadline = init.deadline;
    this.signal = Cancel.follow(init.signal);
    this.propagate = init.propagate;
    this.trace = init.trace;
  }

  /** The request's client of one endpoint: DataLoader's `load`/`loadMany`, and `call` for writes. */
  loader(upstream: string, endpoint: string, id = `${upstream}.${endpoint}`): EndpointLoader {
    let l = this.loaders.get(id);
    if (!l) {
      l = new EndpointLoader(this.connector, this.connector.endpoint(upstream, endpoint), this);
      this.loaders.set(id, l);
    }
    return l;
  }
}
