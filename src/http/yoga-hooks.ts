/**
 * Yoga's request handling (`YogaServer.handle`, and the adapter's `onRequest` hooks around it),
 * called hook by hook for a request that has no Fetch `Request`: the same hooks, in the same order,
 * with the same payloads, each awaited only when it returns a promise. Yoga chains them with its
 * promise helpers, which allocate a few objects per hook; that plumbing, not the hooks, is what
 * this restates. The steps and their yoga counterparts:
 *
 * - `onRequest`: the adapter's `handleRequest` (an early Response ends the request);
 * - `onRequestParse`/`onRequestParseDone` and the chosen request parser: `parseRequest`;
 * - `onParams`, the params handler (yoga's `handleParams`: its envelop instance, `yoga.getEnveloped`,
 *   for parse, validate, context and execute), `onExecutionResult`: `getResultForParams`;
 * - `onResultProcess` and the chosen result processor: `processResult`;
 * - an error thrown on the way: `handleError`, then `processResult`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendNodeResponse } from '@whatwg-node/server';
import { getOperationAST, GraphQLError, type DocumentNode, type ExecutionArgs, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { createGraphQLError, processRegularResult, type GraphQLParams, type Plugin, type YogaServer } from 'graphql-yoga';
import { writeJsonResult, type JsonMediaType } from './json-response.js';
import type { RequestState } from './request-state.js';

/** The server context of a fast-path request (the shape yoga's Node adapter gives its requests). */
export interface FastContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly state: RequestState;
  readonly waitUntil: (work: unknown) => void;
}

type MaybePromise<T> = T | Promise<T>;
type Hook<K extends keyof Plugin> = NonNullable<Plugin[K]>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Payload<K extends keyof Plugin> = Hook<K> extends (payload: infer P, ...rest: any[]) => any ? P : never;
type Parser = (request: Request) => MaybePromise<unknown>;
type ParamsHandler = (payload: { request: Request; params: GraphQLParams; context: FastContext }) => MaybePromise<ExecutionResult>;
type Processor = (result: ExecutionResult, fetchAPI: unknown, mediaType: string) => MaybePromise<Response>;

/** What this uses of yoga's server object (`YogaServer`), which plugins receive in `onYogaInit`. */
interface YogaServerParts {
  readonly plugins: readonly Plugin[];
  readonly fetchAPI: YogaServer<any, any>['fetchAPI'];
  readonly logger: { debug(...args: unknown[]): void; error(...args: unknown[]): void };
  /** Yoga's masking options, whose `maskError` logs a masked error (yoga's wrapper of the `maskedErrors` function). */
  readonly maskedErrorsOpts: { maskError(error: unknown, message: string, isDev?: boolean): Error; errorMessage: string; isDev?: boolean } | null;
  readonly handleParams: ParamsHandler;
  readonly getEnveloped: (context: object) => Enveloped;
}

/** Yoga's envelop instance for one request: parse, validate, context and execute with every envelop plugin. */
interface Enveloped {
  readonly schema: GraphQLSchema;
  parse(source: string): DocumentNode;
  validate(schema: GraphQLSchema, document: DocumentNode): readonly GraphQLError[];
  contextFactory(): MaybePromise<object>;
  execute(args: ExecutionArgs): MaybePromise<ExecutionResult>;
  subscribe(args: ExecutionArgs): MaybePromise<ExecutionResult>;
}

/** Yoga's test for a promise (a `then` property). */
const isPromise = <T>(v: MaybePromise<T>): v is Promise<T> => (v as { then?: unknown } | null | undefined)?.then != null;
/** Yoga's test for a parser's early answer. */
const isResponse = (v: unknown): v is Response => Boolean((v as Response | undefined)?.status && (v as Response | undefined)?.headers);
const isAbortError = (e: unknown): boolean => typeof e === 'object' && e !== null && e.constructor?.name === 'DOMException' && ((e as Error).name === 'AbortError' || (e as Error).name === 'TimeoutError');

function unsupported(): never {
  throw new Error('A plugin replaced the request or its handler in onRequest; the fast path cannot serve that.');
}

export class YogaHooks {
  private readonly yoga: YogaServerParts;
  private readonly onRequest: Hook<'onRequest'>[] = [];
  private readonly onRequestParse: Hook<'onRequestParse'>[] = [];
  private readonly onParams: Hook<'onParams'>[] = [];
  private readonly onExecutionResult: Hook<'onExecutionResult'>[] = [];
  private readonly onResultProcess: Hook<'onResultProcess'>[] = [];

  constructor(yoga: unknown) {
    this.yoga = yoga as YogaServerParts;
    // In plugin order, as yoga and its adapter collect them.
    for (const p of this.yoga.plugins) {
      if (!p) continue;
      if (p.onRequest) this.onRequest.push(p.onRequest);
      if (p.onRequestParse) this.onRequestParse.push(p.onRequestParse);
      if (p.onParams) this.onParams.push(p.onParams);
      if (p.onExecutionResult) this.onExecutionResult.push(p.onExecutionResult);
      if (p.onResultProcess) this.onResultProcess.push(p.onResultProcess);
    }
  }

  /** Handle a request through every hook, writing its answer to `ctx.res`. */
  async handle(request: Request, ctx: FastContext): Promise<void> {
    let parsedUrl: URL | undefined;
    const { fetchAPI } = this.yoga;
    // The URL is parsed only when a hook reads it, as the adapter's and yoga's.
    const url = new Proxy({} as URL, { get: (_, prop) => Reflect.get((parsedUrl ??= new fetchAPI.URL(request.url, 'http://localhost')), prop) });
    let early = this.requested(request, ctx, url);
    if (isPromise(early)) early = await early;
    if (early) return sendNodeResponse(early, ctx.res, ctx.req, true);
    let result: ExecutionResult;
    try {
      const parsed = await this.parse(request, ctx, url);
      if (isResponse(parsed)) return sendNodeResponse(parsed, ctx.res, ctx.req, true);
      // The fast path never takes a batch: one set of params.
      result = await this.resultFor(parsed as GraphQLParams, request, ctx);
      await this.answer(request, ctx, result);
    } catch (e) {
      await this.answer(request, ctx, { errors: this.errorsOf(e) });
    }
  }

  /** The `onRequest` hooks; the Response one of them answered with, if any. */
  private requested(request: Request, ctx: FastContext, url: URL): MaybePromise<Response | undefined> {
    if (!this.onRequest.length) return undefined;
    const { fetchAPI } = this.yoga;
    let response: Response | undefined;
    const payload = {
      request,
      setRequest: unsupported,
      serverContext: ctx,
      fetchAPI,
      url,
      requestHandler: undefined,
      setRequestHandler: unsupported,
      endResponse(r: Response) {
        response = r;
      },
    } as unknown as Payload<'onRequest'>;
    const from = (i: number): MaybePromise<Response | undefined> => {
      for (; i < this.onRequest.length && !response; i++) {
        const done = this.onRequest[i]!(payload);
        if (isPromise(done)) return done.then(() => from(i + 1));
      }
      return response;
    };
    return from(0);
  }

  /** The `onRequestParse` hooks, the parser they chose, and the `onRequestParseDone` hooks: the params, or an early Response. */
  private async parse(request: Request, ctx: FastContext, url: URL): Promise<unknown> {
    const { fetchAPI } = this.yoga;
    const done: ((payload: { requestParserResult: unknown; setRequestParserResult(r: unknown): void }) => unknown)[] = [];
    // One payload for every hook (yoga builds one per hook): `requestParser` is the parser chosen so far.
    const payload = {
      request,
      url,
      requestParser: undefined as Parser | undefined,
      serverContext: ctx,
      setRequestParser(p: Parser) {
        payload.requestParser = p;
      },
      response: undefined as Response | undefined,
      endResponse(res: Response) {
        payload.response = res;
      },
      fetchAPI,
    };
    for (const hook of this.onRequestParse) {
      let r = hook(payload as unknown as Payload<'onRequestParse'>);
      if (isPromise(r)) r = await r;
      if (r?.onRequestParseDone) done.push(r.onRequestParseDone as (typeof done)[number]);
      if (payload.response) return payload.response;
    }
    const parser = payload.requestParser;
    if (!parser) return new fetchAPI.Response(null, { status: 415, statusText: 'Unsupported Media Type' });
    let parsed = parser(request);
    if (isPromise(parsed)) parsed = await parsed;
    if (isResponse(parsed)) return parsed;
    if (!done.length) return parsed;
    const result = {
      requestParserResult: parsed,
      setRequestParserResult(p: unknown) {
        result.requestParserResult = p;
      },
    };
    for (const hook of done) {
      const d = hook(result);
      if (isPromise(d)) await d;
    }
    return result.requestParserResult;
  }

  /** The `onParams` hooks, the params handler (yoga's envelop instance), and the `onExecutionResult` hooks. */
  private async resultFor(params: GraphQLParams, request: Request, ctx: FastContext): Promise<ExecutionResult> {
    const yogaHandler = this.yoga.handleParams;
    // One payload for every hook, its fields updated by the setters (yoga builds one per hook from the same variables).
    const payload = {
      params,
      request,
      setParams(p: GraphQLParams) {
        payload.params = p;
      },
      paramsHandler: yogaHandler,
      setParamsHandler(h: ParamsHandler) {
        payload.paramsHandler = h;
      },
      result: undefined as ExecutionResult | undefined,
      setResult(r: ExecutionResult) {
        payload.result = r;
      },
      fetchAPI: this.yoga.fetchAPI,
      context: ctx,
    };
    for (const hook of this.onParams) {
      const d = hook(payload as unknown as Payload<'onParams'>);
      if (isPromise(d)) await d;
    }
    let result = payload.result;
    if (!result) {
      const handler = payload.paramsHandler;
      const r = handler === yogaHandler ? this.execute(payload.params, request, ctx) : handler({ request, params: payload.params, context: ctx });
      result = isPromise(r) ? await r : r;
    }
    if (!this.onExecutionResult.length) return result;
    const done = {
      result,
      setResult(r: ExecutionResult) {
        done.result = r;
      },
      request,
      context: ctx,
    };
    for (const hook of this.onExecutionResult) {
      const d = hook(done as unknown as Payload<'onExecutionResult'>);
      if (isPromise(d)) await d;
    }
    return done.result;
  }

  /**
   * Yoga's params handler (`handleParams` and `processRequest`), restated without its promise
   * plumbing: its envelop instance parses, validates, builds the context and executes, and an error
   * thrown there is answered as yoga answers it.
   */
  private async execute(params: GraphQLParams, request: Request, ctx: FastContext): Promise<ExecutionResult> {
    // Yoga's initial context is the server context, with the request and its params.
    Object.assign(ctx, { request, params });
    const enveloped = this.yoga.getEnveloped(ctx);
    try {
      const document = enveloped.parse(params.query as string);
      const errors = enveloped.validate(enveloped.schema, document);
      if (errors.length > 0) return { errors };
      let contextValue = enveloped.contextFactory();
      if (isPromise(contextValue)) contextValue = await contextValue;
      const operation = getOperationAST(document, params.operationName);
      const run = operation?.operation === 'subscription' ? enveloped.subscribe : enveloped.execute;
      return await run({ schema: enveloped.schema, document, contextValue, variableValues: params.variables, operationName: params.operationName });
    } catch (e) {
      return { errors: this.errorsOf(e) };
    }
  }

  /** The `onResultProcess` hooks choose the processor; a regular JSON answer is written directly, any other from its Response. */
  private async answer(request: Request, ctx: FastContext, result: ExecutionResult): Promise<void> {
    // One payload for every hook, its fields updated by the setters.
    const payload = {
      request,
      acceptableMediaTypes: [] as string[],
      result,
      setResult(r: ExecutionResult) {
        payload.result = r;
      },
      resultProcessor: undefined as Processor | undefined,
      mediaType: '*/*',
      setResultProcessor(p: Processor, m: string) {
        payload.resultProcessor = p;
        payload.mediaType = m;
      },
      serverContext: ctx,
    };
    for (const hook of this.onResultProcess) {
      const d = hook(payload as unknown as Payload<'onResultProcess'>);
      if (isPromise(d)) await d;
    }
    const { resultProcessor: processor, mediaType } = payload;
    result = payload.result;
    // A stream (a subscription's) is the regular processor's to refuse, in a Response.
    if (processor === processRegularResult && !(Symbol.asyncIterator in result)) return writeJsonResult(ctx.res, result, mediaType as JsonMediaType, ctx.state.encoding);
    const { fetchAPI } = this.yoga;
    const response = processor
      ? await processor(result, fetchAPI, mediaType)
      : new fetchAPI.Response(null, { status: 406, statusText: 'Not Acceptable', headers: { accept: payload.acceptableMediaTypes.join('; charset=utf-8, ') } });
    await sendNodeResponse(response, ctx.res, ctx.req, true);
  }

  /** Yoga's `handleError` (not exported), over yoga's own masking and logger: the errors a thrown error is answered with. */
  private errorsOf(error: unknown): GraphQLError[] {
    if (typeof error === 'object' && error !== null && 'errors' in error) return (error as { errors: unknown[] }).errors.flatMap((e) => this.errorsOf(e));
    const { logger, maskedErrorsOpts: masking } = this.yoga;
    if (isAbortError(error)) {
      logger.debug('Request aborted');
      return [];
    }
    if (!masking) return [error instanceof GraphQLError ? error : createGraphQLError(String((error as Error)?.message ?? error), { extensions: { unexpected: true } })];
    const masked = masking.maskError(error, masking.errorMessage, masking.isDev);
    if (masked !== error) logger.error(error);
    return [masked instanceof GraphQLError ? masked : createGraphQLError(masked.message, { originalError: masked })];
  }
}
