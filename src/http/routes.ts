/**
 * Routing of the gateway's HTTP server: every request gets its id (the client's `x-request-id` when
 * acceptable) echoed in the response, then `/graphql`, the health checks, the extra routes (traces,
 * metrics, admin) in order, and a 404 for anything else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, sendJson } from './refusals.js';
import { requestIdOf } from './request-state.js';

/** An extra HTTP route (traces, metrics, admin...). `path` matches exactly, or as a prefix when it ends with `/`. */
export interface Route {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly path: string;
  readonly handle: (req: IncomingMessage, res: ServerResponse, requestId: string) => void | Promise<void>;
}

export interface RouterOptions {
  /** The `/graphql` handler. */
  readonly graphql: (req: IncomingMessage, res: ServerResponse, requestId: string) => void;
  /** `/readyz`'s body: each upstream's breaker state. */
  readonly readiness: () => Record<string, unknown>;
  /** More routes, tried in order before the 404. */
  readonly routes: readonly Route[];
  /** True once a shutdown began: `/readyz` answers 503 and every answer closes its connection. */
  readonly draining?: () => boolean;
}

/**
 * The request listener of the gateway's HTTP server.
 *
 * @example
 * createServer(router({ graphql, readiness: () => ({ breakers }), routes }));
 */
export function router(opts: RouterOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const requestId = requestIdOf(req);
    res.setHeader('x-request-id', requestId);
    const draining = opts.draining?.() ?? false;
    // Draining: the answer is sent whole, then its connection closes (the client opens a new one elsewhere).
    if (draining) res.setHeader('connection', 'close');
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (path === '/graphql') return opts.graphql(req, res, requestId);
    // Liveness: the process answers. Readiness: it wants traffic (not while draining: the load balancer takes it out).
    if (path === '/healthz' && req.method === 'GET') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz' && req.method === 'GET') return draining ? sendJson(res, 503, { status: 'draining' }) : sendJson(res, 200, { status: 'ok', ...opts.readiness() });
    for (const route of opts.routes) {
      const matches = route.path.endsWith('/') ? path.startsWith(route.path) : path === route.path;
      if (matches && req.method === route.method) {
        Promise.resolve(route.handle(req, res, requestId)).catch(() => {
          if (!res.headersSent) sendJson(res, 500, errorBody('Unexpected error.', 'INTERNAL_SERVER_ERROR', requestId));
          else res.destroy();
        });
        return;
      }
    }
    sendJson(res, 404, errorBody('Not found. GraphQL is served at /graphql.', 'NOT_FOUND', requestId));
  };
}
