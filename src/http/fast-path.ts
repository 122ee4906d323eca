/**
 * The fast path: a JSON POST the server has already read and parsed goes through the same plugins
 * as any request, without the Fetch API objects yoga's Node adapter builds around it. The plugins'
 * hooks are called here in yoga's order and with yoga's payloads, as the adapter and yoga call them:
 * `onRequest`, `onRequestParse` (and `onRequestParseDone`) with yoga's own request parser,
 * `onParams`, yoga's params handler (its envelop instance: parse, validate, context, execute, with
 * every envelop plugin), `onExecutionResult`, and `onResultProcess`, whose choice of result
 * processor is kept. So a concern is written once, as a plugin, and every request sees it.
 *
 * What is skipped: the conversion of the Node request into a Fetch `Request` (`NodeRequestView`
 * stands in for it), yoga's promise-chain plumbing between the hooks (the hooks are called in a
 * plain loop, awaited only when one returns a promise), and for a regular JSON answer the Fetch
 * `Response` and its copy to the Node response (the bytes are written directly, by yoga's status
 * and body rules: `json-response.ts`). Any other answer (a hook's own Response, a stream) is a
 * Response, written by the adapter's writer.
 *
 * Not taken (the server hands these to yoga's Node adapter, `fast-path-params.ts`): anything but a
 * single JSON operation, an Accept header asking for a stream, and a browser origin when CORS is
 * configured (its headers are added by an `onResponse` hook, which needs a Response).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getOperationAST, type DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { NodeRequestView } from './node-request-view.js';
import type { RequestState } from './request-state.js';
import { YogaHooks, type FastContext } from './yoga-hooks.js';

export interface FastPath {
  /** The plugin that connects the fast path to yoga and counts its executions; put it last. */
  readonly plugin: Plugin;
  /** Requests whose operation the fast path executed (refused or invalid ones are answered, not counted), and their distinct documents. */
  stats(): { readonly served: number; readonly documents: number };
  /** Serve a JSON POST whose body was parsed, writing the answer to `res`. */
  serve(req: IncomingMessage, res: ServerResponse, body: unknown, state: RequestState): Promise<void>;
}

/**
 * The fast path of the yoga instance that runs `fast.plugin` (which receives yoga's server object
 * when yoga starts).
 *
 * @example
 * const fast = createFastPath({ onError: (e) => logger.error({ err: e }, 'fast path failed') });
 * const yoga = createYoga({ ..., plugins: [...plugins, fast.plugin] });
 * void fast.serve(req, res, JSON.parse(text), state);
 */
export function createFastPath(opts: { onError: (e: unknown) => void }): FastPath {
  let hooks: YogaHooks | undefined;
  const isFast = new WeakSet<RequestState>();
  let served = 0;
  const documents = new WeakSet<DocumentNode>();
  let documentCount = 0;
  // As the adapter's: work a plugin finishes after the answer; its failure is reported, never thrown.
  const waitUntil = (work: unknown): void => {
    if (typeof (work as Promise<unknown> | undefined)?.then === 'function') (work as Promise<unknown>).catch(opts.onError);
  };

  const plugin: Plugin = {
    onYogaInit({ yoga }) {
      hooks = new YogaHooks(yoga);
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
  };

  return {
    plugin,
    stats: () => ({ served, documents: documentCount }),
    async serve(req, res, body, state) {
      if (!hooks) throw new Error('The fast path plugin is not registered with yoga.');
      isFast.add(state);
      try {
        await hooks.handle(new NodeRequestView(req, body) as unknown as Request, { req, res, state, waitUntil });
      } catch (e) {
        // Yoga answers its plugins' errors itself; this is a failure to write the answer.
        opts.onError(e);
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      }
    },
  };
}
