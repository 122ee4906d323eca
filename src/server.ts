/**
 * The HTTP gateway: graphql-yoga on Node's HTTP server. Per request it assigns a request id, a
 * deadline and an abort signal (fired when the client goes away), identifies the user, opens a
 * request scope on the connector, and writes one log line when the response is done.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError, Kind, Source, type ASTNode, type ExecutionResult, type GraphQLSchema, type OperationDefinitionNode, type DocumentNode } from 'graphql';
import { createGraphQLError, createYoga, type Plugin } from 'graphql-yoga';
import type { GatewayConfig } from './config.js';
import { acceptedMediaType, directParams, KnownDocuments, responseInit, serializeResult, type DirectHooks, type DirectParams, type JsonMediaType } from './direct.js';
import { CompiledOperations, type Runner } from './execution.js';
import { Cancel, type Connector, type RequestScope } from './connector/index.js';
import { isTributaryError } from './errors.js';
import { leafFailure, leafFailureType } from './leaf-contract.js';
import type { User } from './identity.js';
import type { Logger } from './logging.js';

/** What the gateway tracks for one HTTP request, shared by the context, plugins and the log line. */
export interface RequestState {
  readonly requestId: string;
  /** The request's headers, for hooks that run when GraphQL never did (a refusal's trace context). */
  readonly headers: IncomingHttpHeaders;
  readonly startedAt: number;
  /** Aborted when the client goes away before its answer: every upstream call of the request stops. */
  readonly abort: Cancel;
  readonly deadlineMs: number;
  operationName: string | null;
  operationType: string | null;
  scope: RequestScope | null;
  user: User | null;
  /** The identified API client (web, mobile, partner...), set by the security layer; null when anonymous. */
  client: ClientIdentity | null;
  errorCodes: string[];
  /**
   * Answered before GraphQL ran: identification (401, 429, 503), the body size (413) or CSRF
   * prevention (403). Logged, traced and counted like any request, with the outcome `refused`.
   */
  refused: boolean;
  /** The request's authentication, when the direct path already tried it and left the request to yoga. */
  authentication?: Promise<User | null> | undefined;
  /** Headers sent with every upstream call of this request (W3C trace context), set by the observability plugin. */
  propagate?: Record<string, string> | undefined;
  /** The W3C trace id of this request (the client's, or a new one), set by the observability plugin. */
  traceId?: string | undefined;
}

/** A named API client and what it may do. Filled in by the security layer (`src/security/`). */
export interface ClientIdentity {
  readonly name: string;
  readonly permissions: ReadonlySet<string>;
}

interface ServerContext {
  req: IncomingMessage;
  res: ServerResponse;
  state: RequestState;
}

/** An extra HTTP route (traces, metrics, admin...). `path` matches exactly, or as a prefix when it ends with `/`. */
export interface Route {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly path: string;
  readonly handle: (req: IncomingMessage, res: ServerResponse, requestId: string) => void | Promise<void>;
}

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
  /** More yoga/envelop plugins, after the gateway's own. */
  readonly plugins?: readonly Plugin<any>[];
  /**
   * What those plugins do for a request the server executes directly, without yoga (`src/direct.ts`,
   * `DIRECT_EXECUTION`): a layer with a yoga plugin that admits, refuses or changes requests must
   * give the same rules here.
   */
  readonly direct?: readonly DirectHooks[];
  /** Called once per GraphQL request, refused ones included, when its response is done (traces, metrics), before its log line. */
  readonly onRequestEnd?: (state: RequestState, status: number, aborted: boolean) => void;
  /**
   * Identifies the API client of a request (the security layer): the client, null (not identified),
   * or a refusal answered before GraphQL runs (401 unknown key, 429 over its rate limit).
   */
  readonly identifyClient?: (req: IncomingMessage) => Identified | Promise<Identified>;
}

/** A request's client, none (not identified), or a refusal answered before GraphQL runs. */
export type Identified = ClientIdentity | null | Refusal;

/** A request answered before GraphQL runs; `client` names the identified client (a 429), never its key. */
export interface Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly retryAfterSeconds?: number;
  readonly client?: string;
}

export interface GatewayServer {
  readonly server: Server;
  /** Requests executed by the direct path so far, and the documents it knows (`src/direct.ts`). */
  directStats(): { readonly served: number; readonly documents: number };
  listen(port?: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

const isGraphQLError = (e: unknown): e is GraphQLError => e instanceof GraphQLError;

/** What a log line shows of an error: its name and message, never its stack or its properties. */
const errorInfo = (e: unknown): { name: string; message: string } | string => (e instanceof Error ? { name: e.name, message: e.message } : String(e));

/** A client's `x-request-id` is used when it matches this (no spaces, no CR/LF, at most 128 characters); else one is generated. */
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const NO_PERMISSIONS: ReadonlySet<string> = new Set();

/** Response headers a browser app may read. */
const CORS_EXPOSED = ['x-request-id', 'retry-after'];
/** CORS for an allowed origin: echoed (`*` makes yoga echo the request's Origin, with Vary). */
const CORS_ALLOWED = { origin: '*', credentials: false, exposedHeaders: CORS_EXPOSED, maxAge: 600 };

/** A Node header's value: the first of a repeated header. */
export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The AST nodes of an error, for a copy of it to keep its `locations`. graphql-jit's errors carry
 * locations without nodes; nodes pointing at those line/column positions stand in for them.
 */
function nodesOf(error: GraphQLError): readonly ASTNode[] | undefined {
  if (error.nodes || !error.locations?.length) return error.nodes;
  return error.locations.map(({ line, column }) => {
    const start = line - 1 + column - 1;
    const source = new Source(`${'\n'.repeat(line - 1)}${' '.repeat(column - 1)}`);
    return { kind: Kind.NAME, value: '', loc: { start, end: start, source } } as unknown as ASTNode;
  });
}

/**
 * Turn any error into what a client may see: our errors keep their message, `code`, and safe
 * extensions; GraphQL's own (syntax, validation) pass through; anything else is "Unexpected error."
 * No stack, URL or upstream body is ever shown.
 */
export function maskError(error: unknown): Error {
  if (isGraphQLError(error)) {
    // A leaf value the schema cannot represent: a contract violation, never a message with the value (src/leaf-contract.ts).
    const leaf = leafFailureType(error.message);
    if (leaf !== undefined) return leafFailure(leaf, nodesOf(error), error.path);
    const original = error.originalError;
    if (!original || isGraphQLError(original)) {
      if (original && isGraphQLError(original) && error.path && !original.path) {
        return createGraphQLError(original.message, { nodes: nodesOf(error), path: error.path, extensions: original.extensions });
      }
      return error;
    }
    if (isTributaryError(original)) {
      return createGraphQLError(original.message, {
        nodes: nodesOf(error),
        path: error.path,
        extensions: { ...original.extensions, code: original.code },
      });
    }
    return createGraphQLError('Unexpected error.', {
      nodes: nodesOf(error),
      path: error.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  }
  if (isTributaryError(error)) return createGraphQLError(error.message, { extensions: { ...error.extensions, code: error.code } });
  return createGraphQLError('Unexpected error.', { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
}

/**
 * The result policy: adds the request id to every error, records the codes, and answers syntax and
 * validation errors with 400 whatever the Accept header. Yoga's path and the direct path both apply it.
 */
export function applyResultPolicy(r: ExecutionResult, state: RequestState): ExecutionResult {
  if (!r || typeof r !== 'object' || !r.errors?.length) return r;
  let specError = false;
  // No `data` at all: a request error (e.g. variables graphql-jit refused before executing).
  const requestError = !('data' in r);
  const errors = r.errors.map((e) => {
    const http = e.extensions?.http as { spec?: boolean } | undefined;
    const spec = http?.spec === true || requestError;
    if (spec) specError = true;
    const code = (e.extensions?.code as string | undefined) ?? (spec ? 'GRAPHQL_VALIDATION_FAILED' : 'INTERNAL_SERVER_ERROR');
    state.errorCodes.push(code);
    return new GraphQLError(e.message, {
      nodes: nodesOf(e),
      source: e.source,
      positions: e.positions,
      path: e.path,
      originalError: e.originalError,
      extensions: { ...e.extensions, code, requestId: state.requestId },
    });
  });
  const extensions = specError && !('data' in r && r.data) ? { ...r.extensions, http: { status: 400 } } : r.extensions;
  return { ...r, errors, ...(extensions ? { extensions } : {}) };
}

/** The result policy as a yoga plugin; a batched request (an array of results) gets it per result. */
function useResultPolicy(): Plugin<ServerContext> {
  return {
    onResultProcess({ result, setResult, serverContext }) {
      const state = (serverContext as Partial<ServerContext>).state;
      if (!state || !result || typeof result !== 'object') return;
      if (Array.isArray(result)) {
        if (result.some((r) => (r as ExecutionResult)?.errors?.length)) setResult(result.map((r) => applyResultPolicy(r as ExecutionResult, state)) as typeof result);
        return;
      }
      if (!('errors' in result)) return;
      const r = result as ExecutionResult;
      if (r.errors?.length) setResult(applyResultPolicy(r, state));
    },
  };
}

/** Records the operation's name and type for the log line and the trace. */
function useOperationInfo(): Plugin<ServerContext> {
  return {
    onExecute({ args }) {
      const state = (args.contextValue as { state?: RequestState }).state;
      if (!state) return;
      let op: OperationDefinitionNode | undefined;
      for (const d of (args.document as DocumentNode).definitions) {
        if (d.kind === 'OperationDefinition' && (args.operationName == null || d.name?.value === args.operationName)) {
          op = d;
          break;
        }
      }
      state.operationName = op?.name?.value ?? args.operationName ?? null;
      state.operationType = op?.operation ?? null;
    },
  };
}

/** Yoga's JSON request types (its `isPOSTJsonRequest`): the first listed type, exactly, with or without parameters. */
function isJsonContentType(type: string): boolean {
  const first = type.split(',', 1)[0]!;
  return first === 'application/json' || first.startsWith('application/json;') || first === 'application/graphql+json' || first.startsWith('application/graphql+json;');
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

  /** The request's Origin when CORS_ORIGINS allows it (any, with `*`), else undefined. */
  function allowedOrigin(origin: string | null | undefined): string | undefined {
    if (!origin || config.corsOrigins === null) return undefined;
    if (config.corsOrigins === '*') return origin;
    return config.corsOrigins.includes(origin) ? origin : undefined;
  }

  // Operations compiled once (GRAPHQL_JIT), for both paths; documents yoga has accepted, executed
  // directly from then on (DIRECT_EXECUTION, on by default).
  const compiled = new CompiledOperations(opts.schema, config.jit);
  const known = config.directExecution ? new KnownDocuments(compiled) : undefined;
  const directHooks = opts.direct ?? [];
  let directServed = 0;

  /** The line yoga writes for an error it masks (or any error it logs); the direct path writes the same. */
  const logError = (e: unknown): void => logger.error({ err: errorInfo(e) }, 'yoga error');

  /**
   * A request's GraphQL context, for yoga's path and the direct one: its user, its scope on the
   * connector (the operations of a batched request share one: one request, one set of loaders, one
   * trace) and the typed clients.
   */
  function contextFor(state: RequestState, user: User | null): Record<string, unknown> {
    state.user = user;
    const scope = state.scope ?? connector.scope({ requestId: state.requestId, user, deadline: state.startedAt + state.deadlineMs, signal: state.abort, propagate: state.propagate });
    state.scope = scope;
    return { requestId: state.requestId, user, scope, state, ...opts.extendContext(scope) };
  }

  const yoga = createYoga<ServerContext>({
    schema: opts.schema,
    graphqlEndpoint: '/graphql',
    graphiql: config.mode === 'development',
    landingPage: false,
    maskedErrors: { maskError: (e) => maskError(e) },
    batching: { limit: 10 },
    // CORS for browser apps on other origins (CORS_ORIGINS): an allowed origin is echoed (with Vary:
    // Origin); any other, `null` included, gets no CORS headers at all. Bearer tokens and API keys
    // travel in headers, never cookies: credentials are not allowed. The app may read the request id
    // and Retry-After.
    cors: config.corsOrigins === null ? false : (request: Request) => (allowedOrigin(request.headers.get('origin')) ? CORS_ALLOWED : false),
    logging: {
      debug: () => {},
      info: () => {},
      warn: (...args: unknown[]) => logger.warn({ detail: String(args[0]) }, 'yoga warning'),
      error: (...args: unknown[]) => logError(args[0]),
    },
    context: async ({ request, state }) => contextFor(state, await (state.authentication ?? opts.authenticate(request.headers.get('authorization')))),
    // graphql-jit (GRAPHQL_JIT, on by default): each operation of a validated document is compiled
    // once into a function (src/execution.ts), held per document object (yoga's parse/validate cache keeps the documents).
    // The learning plugin of the direct path comes last: it sees the verdict of every validation rule.
    plugins: [useOperationInfo(), useResultPolicy(), ...(opts.plugins ?? []), ...(config.jit ? [compiled.plugin()] : []), ...(known ? [known.plugin()] : [])],
  });

  function deadlineFor(req: IncomingMessage): number {
    const asked = Number(headerValue(req.headers['x-request-timeout-ms']));
    // A client may lower the deadline, never raise it.
    return Number.isFinite(asked) && asked > 0 ? Math.min(asked, config.requestTimeoutMs) : config.requestTimeoutMs;
  }

  function sendJson(res: ServerResponse, status: number, body: unknown, req?: IncomingMessage): void {
    const payload = JSON.stringify(body);
    const origin = req ? allowedOrigin(headerValue(req.headers.origin)) : undefined;
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(payload),
      // A refusal before GraphQL (401, 413, 429) is readable by an allowed browser app, as yoga's answers are.
      ...(origin ? { 'access-control-allow-origin': origin, vary: 'Origin', 'access-control-expose-headers': CORS_EXPOSED.join(', ') } : {}),
    });
    res.end(payload);
  }

  function newState(req: IncomingMessage, requestId: string): RequestState {
    return {
      requestId,
      headers: req.headers,
      startedAt: performance.now(),
      abort: new Cancel(),
      deadlineMs: deadlineFor(req),
      operationName: null,
      operationType: null,
      scope: null,
      user: null,
      client: null,
      errorCodes: [],
      refused: false,
    };
  }

  /** Answer a refusal before GraphQL runs: the error (with the request id), then the same log line, trace and metrics as any request. */
  function refuse(req: IncomingMessage, res: ServerResponse, state: RequestState, refusal: Refusal): void {
    state.refused = true;
    state.errorCodes.push(refusal.code);
    if (refusal.client) state.client = { name: refusal.client, permissions: NO_PERMISSIONS };
    if (refusal.retryAfterSeconds) res.setHeader('retry-after', String(refusal.retryAfterSeconds));
    sendJson(res, refusal.status, { errors: [{ message: refusal.message, extensions: { code: refusal.code, requestId: state.requestId } }] }, req);
    req.resume();
  }

  const tooLarge = (): Refusal => ({ status: 413, code: 'PAYLOAD_TOO_LARGE', message: `Request body larger than ${config.maxBodyBytes} bytes.` });

  function handleGraphQL(req: IncomingMessage, res: ServerResponse, requestId: string): void {
    // From here on every request, refused or not, ends with one log line, one trace and its metrics.
    const state = newState(req, requestId);
    res.on('close', () => {
      // The client went away before we answered: abort its in-flight upstream calls.
      const aborted = !res.writableFinished;
      if (aborted) state.abort.abort();
      // Observability first: it gives a request refused before GraphQL its trace id, for the log line.
      opts.onRequestEnd?.(state, res.statusCode, aborted);
      logRequest(state, res.statusCode, aborted);
    });
    const declared = Number(req.headers['content-length']);
    if (declared > config.maxBodyBytes) return refuse(req, res, state, tooLarge());
    // A CORS preflight carries no credentials: it is answered by yoga, never identified or counted.
    const who = opts.identifyClient && req.method !== 'OPTIONS' ? opts.identifyClient(req) : null;
    if (who instanceof Promise) {
      // A limit counted across processes (Redis): the body waits, unread, until the answer.
      who.then(
        (w) => serveGraphQL(req, res, state, w),
        () => serveGraphQL(req, res, state, { status: 503, code: 'UNAVAILABLE', message: 'The client could not be identified; retry later.', retryAfterSeconds: 1 }),
      );
      return;
    }
    serveGraphQL(req, res, state, who);
  }

  function serveGraphQL(req: IncomingMessage, res: ServerResponse, state: RequestState, who: Identified): void {
    if (res.destroyed) return;
    if (who && 'status' in who) return refuse(req, res, state, who);
    state.client = who;
    const type = headerValue(req.headers['content-type']);
    // Any other request (GET, a non-JSON body: yoga refuses it, or CSRF prevention does) is yoga's to read.
    if (req.method !== 'POST' || !type || !isJsonContentType(type)) {
      void yoga(req, res, { req, res, state });
      return;
    }
    // A JSON POST (the types yoga parses as JSON): read and parse the body here, under the size
    // limit, and hand yoga the parsed value (its Node adapter then skips the stream pipeline and its
    // second parse), or execute it directly.
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size > config.maxBodyBytes) return;
      size += chunk.length;
      if (size > config.maxBodyBytes) {
        res.setHeader('connection', 'close');
        refuse(req, res, state, tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (size > config.maxBodyBytes || res.destroyed) return;
      const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined; // yoga answers malformed JSON with its own error
      }
      // An object with keys is used as parsed; anything else goes to yoga as text, to be refused there.
      const usable = parsed !== null && typeof parsed === 'object' && Object.keys(parsed).length > 0;
      if (usable || text) (req as IncomingMessage & { body?: unknown }).body = usable ? parsed : text;
      if (usable && serveDirect(req, res, state, parsed)) return;
      void yoga(req, res, { req, res, state });
    });
  }

  /**
   * Execute a known document without yoga, when nothing about the request needs it (`src/direct.ts`):
   * true when the direct path took the request. A browser origin with CORS configured, an Accept
   * header asking for a stream, or a layer's refusal leave it to yoga.
   */
  function serveDirect(req: IncomingMessage, res: ServerResponse, state: RequestState, body: unknown): boolean {
    if (!known) return false;
    const params = directParams(body);
    if (!params) return false;
    const mediaType = acceptedMediaType(headerValue(req.headers.accept));
    if (!mediaType) return false;
    if (config.corsOrigins !== null && req.headers.origin !== undefined) return false;
    const op = known.operation(params);
    if (!op) return false;
    for (const h of directHooks) if (h.admit && !h.admit(state, params, op.document, opts.schema)) return false;
    void runDirect(req, res, state, params, op.node, op.run, mediaType);
    return true;
  }

  async function runDirect(req: IncomingMessage, res: ServerResponse, state: RequestState, params: DirectParams, node: OperationDefinitionNode, run: Runner, mediaType: JsonMediaType): Promise<void> {
    const authentication = opts.authenticate(headerValue(req.headers.authorization) ?? null);
    let user: User | null;
    try {
      user = await authentication;
    } catch {
      // Yoga answers a credential it cannot accept with its error, from this same attempt (not a second one).
      state.authentication = authentication;
      void yoga(req, res, { req, res, state });
      return;
    }
    if (res.destroyed) return;
    directServed++;
    const masked = (e: unknown): GraphQLError => {
      const m = maskError(e) as GraphQLError;
      if (m !== e) logError(e);
      return m;
    };
    try {
      state.user = user;
      for (const h of directHooks) h.start?.(state, params);
      state.operationName = node.name?.value ?? params.operationName;
      state.operationType = node.operation;
      let result: ExecutionResult;
      try {
        result = await run(contextFor(state, user), params.variables);
        if (result.errors?.length) result = { ...result, errors: result.errors.map(masked) };
      } catch (e) {
        // As yoga answers an error thrown while building the context or executing: a request error.
        result = { errors: [masked(e)] };
      }
      result = applyResultPolicy(result, state);
      for (const h of directHooks) if (h.result) result = h.result(state, result);
      const init = responseInit(result, mediaType);
      // Encoded once here: the socket writes the bytes as they are (a string would be joined to the
      // head and copied again), and their length is the Content-Length.
      const payload = Buffer.from(serializeResult(result));
      if (res.destroyed) return;
      res.writeHead(init.status, { ...init.headers, 'content-type': `${mediaType}; charset=utf-8`, 'content-length': payload.length });
      res.end(payload);
    } catch (e) {
      logger.error({ requestId: state.requestId, err: errorInfo(e) }, 'direct execution failed');
      state.errorCodes.push('INTERNAL_SERVER_ERROR');
      if (!res.headersSent) sendJson(res, 500, { errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: state.requestId } }] }, req);
      else res.destroy();
    }
  }

  function logRequest(state: RequestState, status: number, aborted: boolean): void {
    if (!logger.isLevelEnabled('info')) return;
    const calls = state.scope?.attempts ?? [];
    const upstream: Record<string, string> = {};
    for (const a of calls) {
      const k = `${a.upstream}.${a.endpoint}`;
      const part = `${a.status || a.error || 'ERR'}/${Math.round(a.durationMs)}ms`;
      upstream[k] = upstream[k] ? `${upstream[k]},${part}` : part;
    }
    logger.info(
      {
        requestId: state.requestId,
        traceId: state.traceId,
        operation: state.operationName,
        type: state.operationType,
        client: state.client?.name,
        user: state.user?.id,
        status,
        aborted: aborted || undefined,
        durationMs: Math.round((performance.now() - state.startedAt) * 10) / 10,
        errors: state.errorCodes.length ? state.errorCodes : undefined,
        upstreamCalls: calls.length,
        upstream,
      },
      'graphql request',
    );
  }

  const server = createServer((req, res) => {
    const given = headerValue(req.headers['x-request-id']);
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', requestId);
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (path === '/graphql') return handleGraphQL(req, res, requestId);
    if (path === '/healthz' && req.method === 'GET') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz' && req.method === 'GET') {
      const breakers = Object.fromEntries(connector.upstreamNames.map((n) => [n, connector.breakerState(n)]));
      return sendJson(res, 200, { status: 'ok', breakers });
    }
    for (const route of opts.routes ?? []) {
      const matches = route.path.endsWith('/') ? path.startsWith(route.path) : path === route.path;
      if (matches && req.method === route.method) {
        Promise.resolve(route.handle(req, res, requestId)).catch(() => {
          if (!res.headersSent) sendJson(res, 500, { errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId } }] });
          else res.destroy();
        });
        return;
      }
    }
    sendJson(res, 404, { errors: [{ message: 'Not found. GraphQL is served at /graphql.', extensions: { code: 'NOT_FOUND', requestId } }] });
  });
  server.keepAliveTimeout = 65_000;

  return {
    server,
    directStats: () => ({ served: directServed, documents: known?.size ?? 0 }),
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
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
