/**
 * A request's client of one endpoint: DataLoader's `load`/`loadMany` for reads (batched per tick,
 * cached, coalesced), and `call` for writes (one call, none of those; see ./write-call.ts).
 */
import DataLoader from 'dataloader';
import type { Connector } from './connector.js';
import type { EndpointRuntime } from './registry.js';
import type { RequestScope } from './request-scope.js';
import type { WriteCallOptions } from './types.js';

export class EndpointLoader extends DataLoader<unknown, unknown, string> {
  constructor(
    private readonly connector: Connector,
    private readonly ep: EndpointRuntime,
    private readonly scope: RequestScope,
  ) {
    super((keys) => connector.load(ep, keys, scope), { cacheKeyFn: ep.keyId });
  }

  /**
   * One write call with this input, under the request's deadline and signal and the upstream's
   * policies; with an idempotency key it is retried like a read.
   */
  call(input: unknown, options?: WriteCallOptions): Promise<unknown> {
    return this.connector.write(this.ep, input, this.scope, options);
  }
}
