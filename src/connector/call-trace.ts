/**
 * Trace context for each upstream HTTP attempt. The connector knows no tracing library: the request's
 * observability (src/observability/) gives its scope an `UpstreamTrace`, and each attempt asks it for
 * its own span (its trace headers written into the attempt's headers) and hands the outcome back.
 */
import type { AttemptEvent } from './events.js';

/** Where an upstream's calls go, computed once per upstream (no allocation per attempt). */
export interface UpstreamTarget {
  readonly upstream: string;
  /** `scheme://host[:port]`, never with userinfo. */
  readonly origin: string;
  readonly scheme: string;
  readonly host: string;
  readonly port: number;
}

export interface UpstreamTrace {
  /**
   * An attempt starts: write its trace-context headers (naming the attempt's own span as the parent
   * of what the upstream does) into `headers`; the returned handle is given back to `end`.
   */
  begin(headers: Record<string, string>, target: UpstreamTarget, endpoint: string, method: string, path: string, attempt: number, hedge: boolean): unknown;
  /** The attempt is over, whatever its outcome (`e.error` is set when it failed). */
  end(handle: unknown, e: AttemptEvent): void;
}

/** An upstream's target from its transport's origin. */
export function targetOf(upstream: string, origin: string): UpstreamTarget {
  const url = new URL(origin);
  const scheme = url.protocol.slice(0, -1);
  return { upstream, origin: url.origin, scheme, host: url.hostname, port: url.port ? Number(url.port) : scheme === 'https' ? 443 : 80 };
}
