/**
 * The HTTP gateway: graphql-yoga on Node's HTTP server. Every GraphQL request goes through one
 * pipeline, yoga's, with every plugin (security, observability, the result policy, compiled
 * execution); a plain JSON POST skips only the Fetch API objects on the way (the fast path). The
 * parts, one per file under `src/http/`:
 *
 * - `routes.ts`: request ids, `/graphql`, health checks, extra routes, 404;
 * - `graphql-endpoint.ts`: a GraphQL request's state, size limit, client identification, and its end;
 * - `request-state.ts`, `refusals.ts`, `body.ts`, `cors.ts`, `request-log.ts`: what those use;
 * - `yoga.ts`: the yoga instance and its plugins (`result-policy.ts`, `operation-info.ts`);
 * - `fast-path.ts`, `fast-path-params.ts`, `json-response.ts`: yoga's handler without the Fetch API.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GatewayConfig } from './config.js';
import type { Connector, RequestScope } from './connector/index.js';
import type { User } from './identity.js';
import type { Logger } from './logging.js';
import { createFastPath } from './http/fast-path.js';
import { graphqlEndpoint } from './http/graphql-endpoint.js';
import type { Identified } from './http/refusals.js';
import { errorInfo } from './http/request-log.js';
import type { RequestState } from './http/request-state.js';
import { router, type Route } from './http/routes.js';
import { createGatewayYoga } from './http/yoga.js';
import { offlineGraphiQL, type GraphiQLSetup } from './http/graphiql.js';

export type { ClientIdentity, RequestState } from './http/request-state.js';
export { headerValue, REQUEST_ID } from './http/request-state.js';
export type { Identified, Refusal } from './http/refusals.js';
export type { Route } from './http/routes.js';
export { applyResultPolicy, maskError } from './http/result-policy.js';

export interface GatewayServerOptions {
  readonly schema: GraphQLSchema;
  readonly connector: Connector;
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly authenticate: (authorization: string | null) => Promise<User | null>;
  /** Adds the composition root's fields (typed upstream clients) to each request's context. */
  readonly extendContext: (scope: RequestScope) => Record<string, unknown>;
  /** More HTTP routes, tried in order before the 404. */
  readonly routes?: readonly Route[];
  /** The layers' yoga/envelop plugins (security, observability), after the gateway's own: every request runs them. */
  readonly plugins?: readonly Plugin<any>[];
  /** Called once per GraphQL request, refused ones included, when its response is done (traces, metrics), before its log line. */
  readonly onRequestEnd?: (state: RequestState, status: number, aborted: boolean) => void;
  /**
   * Identifies the API client of a request (the security layer): the client, null (not identified),
   * or a refusal answered before GraphQL runs (401 unknown key, 429 over its rate limit).
   */
  readonly identifyClient?: (req: IncomingMessage) => Identified | Promise<Identified>;
  /** GraphiQL's preloaded tabs and preset headers; GraphiQL itself is served in development only. */
  readonly graphiql?: GraphiQLSetup;
}

export interface GatewayServer {
  readonly server: Server;
  /** Requests whose operation the fast path executed so far, and their distinct documents (`src/http/fast-path.ts`). */
  directStats(): { readonly served: number; readonly documents: number };
  listen(port?: number, host?: string): Promise<string>;
  /**
   * The drain of a rolling deploy: `/readyz` answers 503 and every answer closes its connection at
   * once; the listener keeps serving for `graceMs` (while the load balancer stops sending here), then
   * stops accepting and closes idle connections; requests in flight get `timeoutMs` to finish, after
   * which the connections left are destroyed. Answers how many requests were cut off that way.
   */
  drain(opts: { readonly graceMs: number; readonly timeoutMs: number }): Promise<{ readonly cutOff: number }>;
  /** True once `drain` began. */
  readonly draining: boolean;
  /** Requests being answered now (every route). */
  readonly inFlight: number;
  /** Stops at once: every connection closed, requests in flight cut off (tests; after `drain`). */
  close(): Promise<void>;
}

/**
 * Create the gateway's HTTP server.
 *
 * @example
 * const gw = createGatewayServer({ schema, connector, config, logger, authenticate, extendContext });
 * const url = await gw.listen(4000);
 */
export function createGatewayServer(opts: GatewayServerOptions): GatewayServer {
  const { config, logger, connector } = opts;
  // DIRECT_EXECUTION (on by default): plain JSON POSTs skip the Fetch API objects.
  const fast = config.directExecution ? createFastPath({ onError: (e) => logger.error({ err: errorInfo(e) }, 'fast path failed') }) : undefined;
  // GraphiQL (development only) from the gateway's own files: it works on a closed network.
  const graphiql = config.mode === 'development' ? offlineGraphiQL(opts.graphiql) : undefined;
  const yoga = createGatewayYoga({
    schema: opts.schema,
    config,
    logger,
    connector,
    authenticate: opts.authenticate,
    extendContext: opts.extendContext,
    plugins: opts.plugins ?? [],
    last: fast ? [fast.plugin] : [],
    graphiql,
  });
  const graphql = graphqlEndpoint({ config, logger, yoga, fast, identifyClient: opts.identifyClient, onRequestEnd: opts.onRequestEnd });
  let draining = false;
  let inFlight = 0;
  let idle: (() => void) | undefined;
  // Answers not begun yet: when the drain starts, each is told to close its connection when sent.
  const unanswered = new Set<ServerResponse>();
  const route = router({
    graphql,
    readiness: () => ({ breakers: Object.fromEntries(connector.upstreamNames.map((n) => [n, connector.breakerState(n)])) }),
    routes: [...(graphiql?.routes ?? []), ...(opts.routes ?? [])],
    draining: () => draining,
  });
  // Slow clients: node checks these bounds every `connectionsCheckingInterval` (30 s by default).
  const server = createServer({ connectionsCheckingInterval: 1_000, headersTimeout: config.server.headersTimeoutMs, requestTimeout: config.server.requestBodyTimeoutMs }, (req, res) => {
    inFlight++;
    unanswered.add(res);
    res.once('close', () => {
      unanswered.delete(res);
      inFlight--;
      if (inFlight === 0) idle?.();
    });
    route(req, res);
  });
  server.keepAliveTimeout = 65_000;
  if (config.server.maxConnections > 0) server.maxConnections = config.server.maxConnections;
  /** The answer ends its connection: `Connection: close`, also when a path writes its own headers list. */
  const closeAfter = (res: ServerResponse) => {
    res.shouldKeepAlive = false;
    res.setHeader('connection', 'close');
  };
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  return {
    server,
    directStats: () => fast?.stats() ?? { served: 0, documents: 0 },
    listen(port = config.port, host = config.host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const addr = server.address() as AddressInfo;
          const shown = addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.address;
          resolve(`http://${shown}:${addr.port}`);
        });
      });
    },
    get draining() {
      return draining;
    },
    get inFlight() {
      return inFlight;
    },
    async drain({ graceMs, timeoutMs }) {
      draining = true;
      for (const res of unanswered) if (!res.headersSent) closeAfter(res);
      unanswered.clear();
      if (graceMs > 0) await sleep(graceMs);
      // Stop accepting; connections open now stay until their requests end (answers carry `connection: close`).
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const finished = new Promise<void>((resolve) => {
        idle = resolve;
        if (inFlight === 0) resolve();
      });
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([finished.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)))]);
      clearTimeout(timer);
      const cutOff = late ? inFlight : 0;
      server.closeAllConnections();
      await closed;
      return { cutOff };
    },
    async close() {
      draining = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
