/** The request context the engine gives every resolver; the composition root adds typed upstream clients. */
import type { RequestScope } from './connector/index.js';

export interface GatewayContext {
  /** Correlates the response, the logs and the upstream calls of one request. */
  readonly requestId: string;
  /** The signed-in end user (JWT `sub`), or null for anonymous requests. */
  readonly user: { readonly id: string } | null;
  /** The request's upstream calls: loaders, deadline, attempts made. */
  readonly scope: RequestScope;
}
