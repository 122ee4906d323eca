/**
 * The fast path: a JSON POST the server has already read and parsed goes through yoga's own request
 * handler without being turned into a Fetch API `Request`, and its answer is written to the Node
 * response without a Fetch `Response`. Everything between is yoga's code over the same plugins as
 * any request: the `onRequest` hooks, yoga's request parsers and `onRequestParse`/`onParams` hooks,
 * its envelop instance (parse, validate, context, execute, with every envelop plugin), the
 * `onExecutionResult` and `onResultProcess` hooks and yoga's choice of result processor, and yoga's
 * error handling. So a concern is written once, as a plugin, and every request sees it.
 *
 * Skipped: the adapter's conversion of the Node request (`normalizeNodeRequest`: full URL, a Fetch
 * `Request` with headers, body stream and abort controller, and its listeners), and for a regular
 * JSON answer the `Response` object and its copy to the Node response (the bytes are written
 * directly, with yoga's status and body rules: `src/http/json-response.ts`).
 *
 * Not taken (the server hands these to yoga's Node adapter): anything but a single JSON operation,
 * an Accept header asking for a stream, and a browser origin when CORS is configured (the CORS
 * headers are added by an `onResponse` hook, which needs a `Response`).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { sendNodeResponse } from '@whatwg-node/server';
import { processRegularResult, type Plugin, type YogaServer } from 'graphql-yoga';
import { getOperationAST, type DocumentNode, type ExecutionResult } from 'graphql';
import { acceptedMediaType, writeJsonResult } from './json-response.js';
import type { RequestState } from './request-state.js';

/**
 * The Fetch `Headers` reading methods over a Node request's headers (lower-cased by Node; a
 * repeated header is joined with ", " as a Fetch `Headers` joins it).
 */
class NodeHeadersView {
  constructor(private readonly headers: IncomingHttpHeaders) {}

  get(name: string): string | null {
    const v = this.headers[name.toLowerCase()];
    if (v === undefined) return null;
    return Array.isArray(v) ? v.join(', ') : v;
  }

  has(name: string): boolean {
    return this.headers[name.toLowerCase()] !== undefined;
  }

  forEach(fn: (value: string, key: string) => void): void {
    for (const [key, value] of this.entries()) fn(value, key);
  }

  *entries(): IterableIterator<[string, string]> {
    for (const key of Object.keys(this.headers)) {
      const v = this.get(key);
      if (v !== null) yield [key, v];
    }
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

/**
 * What yoga and its plugins read of a `Request` whose body the server has parsed: method, URL,
 * headers and `json()`. There is no body stream (`body` is null): the body was read, under the
 * size limit, by the server.
 */
class NodeRequestView {
  readonly headers: NodeHeadersView;
  readonly body = null;
  readonly bodyUsed = true;
  readonly method: string;
  readonly url: string;

  constructor(
    req: IncomingMessage,
    private readonly parsed: unknown,
  ) {
    this.method = req.method ?? 'POST';
    this.headers = new NodeHeadersView(req.headers);
    this.url = `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;
  }

  /** The parsed body, as a value: yoga's JSON parser takes it without a promise round trip. */
  json(): unknown {
    return this.parsed;
  }

  text(): string {
    return JSON.stringify(this.parsed);
  }
}

/** The server context of a request (the same object shape yoga's Node adapter gets). */
export interface FastContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly state: RequestState;
}

type RequestHook = NonNullable<Plugin['onRequest']>;
type Handle = (request: Request, serverContext: FastContext) => Response | Promise<Response>;

export interface FastPath {
  /** The plugin that counts the fast path's executions and writes its regular JSON answers directly; put it last. */
  readonly plugin: Plugin;
  /** Requests whose operation the fast path executed (refused or invalid ones are answered, not counted), and their distinct documents. */
  stats(): { readonly served: number; readonly documents: number };
  /** Serve a JSON POST whose body was parsed, writing the answer to `res`. */
  serve(req: IncomingMessage, res: ServerResponse, body: unknown, state: RequestState): Promise<void>;
}

/**
 * The fast path of the yoga instance that runs `fast.plugin` (captured when yoga starts).
 *
 * @example
 * const fast = createFastPath();
 * const yoga = createYoga({ ..., plugins: [...plugins, fast.plugin] });
 * void fast.serve(req, res, JSON.parse(text), state);
 */
export function createFastPath(opts: { onWriteError: (e: unknown) => void }): FastPath {
  let handle: Handle | undefined;
  let requestHooks: readonly RequestHook[] = [];
  let fetchAPI: YogaServer<any, any>['fetchAPI'];
  /** What the direct writer returns to yoga in place of a `Response`: the answer is already written. */
  let written: Response;
  const isFast = new WeakSet<RequestState>();
  let served = 0;
  const documents = new WeakSet<DocumentNode>();
  let documentCount = 0;

  const plugin: Plugin = {
    onYogaInit({ yoga }) {
      // Yoga's own handler (parsing, params, envelop, result processing, error handling), without the
      // Node adapter around it; the adapter's onRequest hooks are run by `serve`, as the adapter runs them.
      const server = yoga as unknown as { handle: Handle; plugins: readonly Plugin[] };
      handle = server.handle;
      requestHooks = server.plugins.flatMap((p) => (p?.onRequest ? [p.onRequest] : []));
      fetchAPI = yoga.fetchAPI;
      written = new fetchAPI.Response(null, { status: 204 });
    },
    onExecute({ args }) {
      // Last of the onExecute hooks: an operation refused before it (the cost limit) never gets here.
      const state = (args.contextValue as { state?: RequestState }).state;
      if (!state || !isFast.has(state) || !getOperationAST(args.document, args.operationName)) return;
      served++;
      if (!documents.has(args.document)) {
        documents.add(args.document);
        documentCount++;
      }
    },
    onResultProcess({ serverContext, resultProcessor, setResultProcessor }) {
      const ctx = serverContext as Partial<FastContext> | undefined;
      if (!ctx?.state || !isFast.has(ctx.state) || resultProcessor !== processRegularResult) return;
      // The media type yoga's processor was chosen for (it is not passed to later hooks).
      const mediaType = acceptedMediaType(ctx.req!.headers.accept) ?? 'application/json';
      const res = ctx.res!;
      setResultProcessor((result) => {
        writeJsonResult(res, result as ExecutionResult, mediaType);
        return written;
      }, mediaType);
    },
  };

  async function runRequestHooks(request: Request, ctx: FastContext): Promise<Response | undefined> {
    let response: Response | undefined;
    let url: URL | undefined;
    for (const hook of requestHooks) {
      let stop = false;
      const done = hook({
        request,
        setRequest: () => {
          throw new Error('A plugin replaced the request; the fast path cannot serve it.');
        },
        serverContext: ctx,
        fetchAPI,
        get url() {
          return (url ??= new fetchAPI.URL(request.url, 'http://localhost'));
        },
        requestHandler: handle as never,
        setRequestHandler: () => {
          throw new Error('A plugin replaced the request handler; the fast path cannot serve it.');
        },
        endResponse(r: Response) {
          response = r;
          stop = true;
        },
      } as unknown as Parameters<RequestHook>[0]);
      if (done && typeof (done as Promise<void>).then === 'function') await done;
      if (stop) break;
    }
    return response;
  }

  return {
    plugin,
    stats: () => ({ served, documents: documentCount }),
    async serve(req, res, body, state) {
      if (!handle) throw new Error('The fast path plugin is not registered with yoga.');
      isFast.add(state);
      const ctx: FastContext = { req, res, state };
      const request = new NodeRequestView(req, body) as unknown as Request;
      try {
        const response = (await runRequestHooks(request, ctx)) ?? (await handle(request, ctx));
        if (response !== written) await sendNodeResponse(response, res, req, true);
      } catch (e) {
        opts.onWriteError(e);
        if (!res.headersSent) {
          res.writeHead(500).end();
        } else res.destroy();
      }
    },
  };
}
