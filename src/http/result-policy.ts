/**
 * What a client may see of a result: error masking (yoga's `maskedErrors` option) and the result
 * policy (an `onResultProcess` plugin), for every request whichever way it is served.
 */
import { GraphQLError, Kind, Source, type ASTNode, type ExecutionResult } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { isTributaryError } from '../errors.js';
import { leafFailure, leafFailureType } from '../leaf-contract.js';
import type { RequestState } from './request-state.js';

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
 * validation errors with 400 whatever the Accept header. Applied by `useResultPolicy`.
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
export function useResultPolicy(): Plugin {
  return {
    onResultProcess({ result, setResult, serverContext }) {
      const state = (serverContext as { state?: RequestState } | undefined)?.state;
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

