/**
 * The gateway's yoga instance: the one GraphQL pipeline every request goes through, whichever way
 * it arrives (yoga's Node adapter, or the fast path). Its plugins, in order: the operation's name
 * and type, the result policy, the layers' plugins (security, observability), the validation cache
 * (after every plugin that adds rules), compiled execution (graphql-jit), and last the fast path's
 * plugin, which sees every earlier verdict.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DocumentNode, GraphQLSchema } from 'graphql';
import { LRUCache } from 'lru-cache';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { GatewayConfig } from '../config.js';
import type { Connector, RequestScope } from '../connector/index.js';
import { CompiledOperations } from '../execution.js';
import type { User } from '../identity.js';
import type { Logger } from '../logging.js';
import { yogaCors } from './cors.js';
import type { OfflineGraphiQL } from './graphiql.js';
import { useOperationInfo } from './operation-info.js';
import { errorInfo } from './request-log.js';
import type { RequestState } from './request-state.js';
import { maskError, useMediaTypeRefusals, useResultPolicy } from './result-policy.js';
import { useResponseCompression } from './compression.js';
import { useHttpCaching } from './http-caching.js';
import { useDeferStream } from '@graphql-yoga/plugin-defer-stream';
import { useValidationCache } from './validation-cache.js';

/** The server context yoga gets for a request: the Node request and response, and the request's state. */
export interface GatewayServerContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly state: RequestState;
}

/** The gateway's yoga instance. */
export type GatewayYoga = YogaServerInstance<GatewayServerContext, {}>;

export interface GatewayYogaOptions {
  readonly schema: GraphQLSchema;
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly connector: Connector;
  readonly authenticate: (authorization: string | null) => Promise<User | null>;
  /** Adds the composition root's fields (typed upstream clients) to each request's context. */
  readonly extendContext: (scope: RequestScope) => Record<string, unknown>;
  /** The layers' plugins (security, observability), after the gateway's own. */
  readonly plugins: readonly Plugin<any>[];
  /** Plugins that must see every other plugin's verdict (the fast path's writer), last. */
  readonly last: readonly Plugin<any>[];
  /** GraphiQL on GET /graphql from a browser, served from the gateway's own files (`src/http/graphiql.ts`); absent: none. */
  readonly graphiql?: OfflineGraphiQL | undefined;
}

/**
 * Create the gateway's yoga instance.
 *
 * @example
 * const yoga = createGatewayYoga({ schema, config, logger, connector, authenticate, extendContext, plugins, last: [fast.plugin] });
 */
/**
 * The parsed-document cache: at most 1,024 documents and about 64 MB, each counted as twice its text
 * plus 16 KB for its syntax tree. The validation verdicts and compiled operations are kept per
 * document object (weakly), so they go when their document does.
 */
export const DOCUMENT_CACHE = { max: 1_024, maxSize: 64 * 1024 * 1024, sizeCalculation: (_doc: DocumentNode, query: string) => query.length * 2 + 16_384 } as const;

/**
 * Documents that do not parse, by text: their errors hold the text (the error's source), so they are
 * bounded in bytes too, and smaller: a parse failure is cheap to find again.
 */
export const PARSE_ERROR_CACHE = { max: 1_024, maxSize: 8 * 1024 * 1024, sizeCalculation: (_error: Error, query: string) => query.length * 2 + 1_024 } as const;

export function createGatewayYoga(opts: GatewayYogaOptions): GatewayYoga {
  const { config, logger, connector } = opts;

  /**
   * A request's GraphQL context: its user, its scope on the connector (the operations of a batched
   * request share one: one request, one set of loaders, one trace) and the typed clients.
   */
  function contextFor(state: RequestState, user: User | null): Record<string, unknown> {
    state.user = user;
    const scope = state.scope ?? connector.scope({ requestId: state.requestId, user, deadline: state.startedAt + state.deadlineMs, signal: state.abort, propagate: state.propagate, trace: state.upstreamTrace });
    state.scope = scope;
    return { requestId: state.requestId, user, scope, state, ...opts.extendContext(scope) };
  }

  return createYoga<GatewayServerContext>({
    schema: opts.schema,
    graphqlEndpoint: '/graphql',
    graphiql: opts.graphiql ? opts.graphiql.options : false,
    ...(opts.graphiql ? { renderGraphiQL: opts.graphiql.render } : {}),
    landingPage: false,
    maskedErrors: { maskError: (e) => maskError(e) },
    batching: { limit: 10 },
    // Parsed documents by query text, least recently used out (yoga's default cache also gives each
    // entry a time to live, read from the clock on every lookup); validation verdicts by `useValidationCache`.
    // Bounded in bytes as well as entries: a document's text is held twice (the key, and the AST's source).
    parserAndValidationCache: { documentCache: new LRUCache<string, DocumentNode>(DOCUMENT_CACHE), errorCache: new LRUCache<string, Error>(PARSE_ERROR_CACHE), validationCache: false },
    cors: yogaCors(config.corsOrigins),
    logging: {
      debug: () => {},
      info: () => {},
      warn: (...args: unknown[]) => logger.warn({ detail: String(args[0]) }, 'yoga warning'),
      error: (...args: unknown[]) => logger.error({ err: errorInfo(args[0]) }, 'yoga error'),
    },
    context: async ({ request, state }) => contextFor(state, await opts.authenticate(request.headers.get('authorization'))),
    // graphql-jit (GRAPHQL_JIT, on by default): each operation of a validated document is compiled
    // once into a function (src/execution.ts), held per document object (yoga's parse/validate cache keeps the documents).
    plugins: [...(opts.graphiql ? [opts.graphiql.plugin] : []), useDeferStream(), useOperationInfo(), useResultPolicy(), useMediaTypeRefusals(), useHttpCaching(connector), useResponseCompression(), ...opts.plugins, useValidationCache(), ...(config.jit ? [new CompiledOperations(opts.schema).plugin()] : []), ...opts.last],
  });
}
