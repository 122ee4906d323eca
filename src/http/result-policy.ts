/**
 * What a client may see of a result: error masking (yoga's `maskedErrors` option) and the result
 * policy (an `onResultProcess` plugin), for every request whichever way it is served.
 */
import { mapAsyncIterator } from '@graphql-tools/utils';
import { GraphQLError, Kind, Source, type ASTNode, type ExecutionResult } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { isTributaryError } from '../errors.js';
import { leafFailure, leafFailureType } from '../leaf-contract.js';
import { answersInParts } from '../execution.js';
import { acceptsAnyOf, acceptsIncremental, SERVED_MEDIA_TYPES } from './json-response.js';
import { headerValue, type RequestState } from './request-state.js';

const isGraphQLError = (e: unknown): e is GraphQLError => e instanceof GraphQLError;

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
    // Only an execution error has a path: a validation error with the same words ("String cannot
    // represent a non string value: 5", an argument literal) is the client's, and passes through.
    const leaf = error.path ? leafFailureType(error.message) : undefined;
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
 * Extensions without `originalError`: yoga's JSON parser puts its parser's own message there, in
 * every mode; a client's request error gets its message and code, never internals.
 */
function withoutOriginalError(extensions: GraphQLError['extensions'] | undefined): Record<string, unknown> {
  if (!extensions || !('originalError' in extensions)) return { ...extensions };
  const { originalError: _internal, ...rest } = extensions;
  return rest;
}

/**
 * The result policy: adds the request id to every error, records the codes, and marks syntax,
 * validation and variable coercion errors as spec errors: 400 under application/graphql-response+json,
 * 200 under application/json (the errors in the body). Applied by `useResultPolicy`.
 */
export function applyResultPolicy(r: ExecutionResult, state: RequestState): ExecutionResult {
  if (!r || typeof r !== 'object' || !r.errors?.length) return r;
  // No `data` at all: a request error (e.g. variables graphql-jit refused before executing).
  return { ...r, errors: withPolicy(r.errors, state, !('data' in r)) };
}

function withPolicy(errors: readonly GraphQLError[], state: RequestState, requestError: boolean): GraphQLError[] {
  return errors.map((e) => {
    const http = e.extensions?.http as { spec?: boolean; status?: number } | undefined;
    const given = e.extensions?.code as string | undefined;
    // A malformed request (not JSON, no query) is no GraphQL request at all: a 400 under either media type.
    const badRequest = given === 'BAD_REQUEST';
    const spec = !badRequest && (http?.spec === true || (requestError && given === undefined));
    const code = given ?? (spec ? 'GRAPHQL_VALIDATION_FAILED' : 'INTERNAL_SERVER_ERROR');
    state.errorCodes.push(code);
    return new GraphQLError(e.message, {
      nodes: nodesOf(e),
      source: e.source,
      positions: e.positions,
      path: e.path,
      originalError: e.originalError,
      // A spec error (syntax, validation, variable coercion) is a 400 under application/graphql-response+json
      // and a 200 under application/json (GraphQL over HTTP: a legacy client reads the errors from the body).
      extensions: {
        ...(spec || badRequest ? withoutOriginalError(e.extensions) : e.extensions),
        code,
        requestId: state.requestId,
        ...(spec ? { http: { ...http, spec: true, status: 400 } } : badRequest ? { http: { ...http, spec: false, status: http?.status ?? 400 } } : {}),
      },
    });
  });
}

/** One part of an incremental (@defer/@stream) answer: its errors and each incremental entry's. */
interface IncrementalPart {
  errors?: readonly GraphQLError[];
  incremental?: ReadonlyArray<{ errors?: readonly GraphQLError[] }>;
}

/**
 * The policy for each part of an incremental answer. Yoga masks only a part's top-level errors: the
 * errors of its incremental entries (a deferred field's failure) are masked here, then given the
 * request id and code like any other.
 */
function partWithPolicy(part: IncrementalPart, state: RequestState, mask: (e: GraphQLError) => GraphQLError): IncrementalPart {
  let out = part;
  if (part.errors?.length) out = { ...out, errors: withPolicy(part.errors, state, false) };
  if (part.incremental?.some((i) => i.errors?.length)) {
    out = { ...out, incremental: part.incremental.map((i) => (i.errors?.length ? { ...i, errors: withPolicy(i.errors.map(mask), state, false) } : i)) };
  }
  return out;
}

/** The result policy as a yoga plugin; a batched request (an array of results) gets it per result. */
export function useResultPolicy(): Plugin {
  // Yoga's masking (it logs what it masks), for the errors of incremental parts.
  let mask = (e: GraphQLError): GraphQLError => maskError(e) as GraphQLError;
  return {
    onYogaInit({ yoga }) {
      const masking = (yoga as unknown as { maskedErrorsOpts: { maskError(e: unknown, message: string, isDev?: boolean): Error; errorMessage: string; isDev?: boolean } | null }).maskedErrorsOpts;
      if (masking) mask = (e) => masking.maskError(e, masking.errorMessage, masking.isDev) as GraphQLError;
    },
    onResultProcess({ result, setResult, serverContext }) {
      const state = (serverContext as { state?: RequestState } | undefined)?.state;
      if (!state || !result || typeof result !== 'object') return;
      if (Symbol.asyncIterator in result) {
        // mapAsyncIterator passes a client's leaving (return) straight to the source, even mid-wait.
        setResult(mapAsyncIterator(result as AsyncIterable<IncrementalPart>, (part) => partWithPolicy(part, state, mask)) as typeof result);
        return;
      }
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


/**
 * The refusals yoga answers with an empty body get a JSON error and the request id like every other:
 * a body of a media type no parser reads (415), and an Accept header no result processor serves (406,
 * with `Accept` listing what is served). Runs after yoga's own parsers and processors.
 */
export function useMediaTypeRefusals(): Plugin {
  const refusal = (fetchAPI: { Response: typeof Response }, status: number, message: string, code: string, requestId: string, headers: Record<string, string> = {}) =>
    new fetchAPI.Response(JSON.stringify({ errors: [{ message, extensions: { code, requestId } }] }), {
      status,
      headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    });
  /** The request id, the refusal recorded for the request's log line, trace and metrics (as `refuse` does). */
  const requestIdOf = (ctx: unknown, code?: string) => {
    const state = (ctx as { state?: RequestState } | undefined)?.state;
    if (state && code) {
      state.refused = true;
      state.errorCodes.push(code);
    }
    return state?.requestId ?? '';
  };
  const served = SERVED_MEDIA_TYPES.join(', ');
  return {
    // Refused before anything runs: an operation executed for a client that cannot read its answer
    // would have its effects (a mutation's, the upstream calls) and nobody to tell.
    onRequest({ request, serverContext, endResponse }) {
      if (request.method !== 'GET' && request.method !== 'POST') return;
      if (acceptsAnyOf(request.headers.get('accept'), SERVED_MEDIA_TYPES)) return;
      endResponse(refusal(globalThis, 406, `None of the media types in Accept can be served; accept one of: ${served}.`, 'NOT_ACCEPTABLE', requestIdOf(serverContext, 'NOT_ACCEPTABLE'), { accept: SERVED_MEDIA_TYPES.join('; charset=utf-8, ') }));
    },
    // The same for an operation that would answer in parts (@defer/@stream) to a client that reads only JSON.
    onExecute({ args, setResultAndStopExecution }) {
      const state = (args.contextValue as { state?: RequestState }).state;
      const accept = state ? headerValue(state.headers.accept) : undefined;
      if (acceptsIncremental(accept) || !answersInParts(args.document, args.operationName, args.variableValues)) return;
      if (state) state.refused = true; // its code is recorded with the error, by the result policy
      setResultAndStopExecution({
        errors: [
          createGraphQLError('This operation is answered in parts (@defer or @stream): accept multipart/mixed or text/event-stream.', {
            extensions: { code: 'NOT_ACCEPTABLE', http: { status: 406, headers: { accept: 'multipart/mixed, text/event-stream' } } },
          }),
        ],
      });
    },
    onRequestParse({ requestParser, setRequestParser, serverContext, request }) {
      if (requestParser) return;
      const type = request.headers.get('content-type') ?? '(none)';
      setRequestParser(async () =>
        refusal(globalThis, 415, `Unsupported content type ${JSON.stringify(type.slice(0, 100))}: send application/json (or a GET with the query in the URL).`, 'UNSUPPORTED_MEDIA_TYPE', requestIdOf(serverContext, 'UNSUPPORTED_MEDIA_TYPE')) as never,
      );
    },
    onResultProcess({ resultProcessor, setResultProcessor, acceptableMediaTypes, serverContext }) {
      if (resultProcessor) return;
      const served = acceptableMediaTypes.join(', ');
      const requestId = requestIdOf(serverContext, 'NOT_ACCEPTABLE');
      setResultProcessor(
        (_result, fetchAPI) =>
          refusal(fetchAPI, 406, `None of the media types in Accept can be served; accept one of: ${served}.`, 'NOT_ACCEPTABLE', requestId, { accept: acceptableMediaTypes.join('; charset=utf-8, ') }),
        'application/json',
      );
    },
  };
}
