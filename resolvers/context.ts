/** What every resolver receives: the gateway's request context plus typed clients for our upstreams. */
import type { UpstreamClients } from '../src/connector/index.js';
import type { GatewayContext } from '../src/context.js';
import type { RequestWorkflows } from '../src/workflow/index.js';
import type { Upstreams } from '../upstreams/index.js';

/** The discovered upstreams as a plain object type (an interface has no index signature). */
export type UpstreamDefinitions = { [K in keyof Upstreams]: Upstreams[K] };

export interface ResolverContext extends GatewayContext {
  readonly upstreams: UpstreamClients<UpstreamDefinitions>;
  /** Runs an orchestrated write (`workflows/`) for the request's user. */
  readonly workflows: RequestWorkflows;
}
