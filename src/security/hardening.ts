/**
 * GraphQL hardening as yoga/envelop plugins: limits on depth, aliases, tokens and directives
 * (graphql-armor), a list-size-aware cost limit (`cost.ts`), bounds on argument and variable string
 * lengths (`input-limits.ts`), introspection and field suggestions off in
 * production, CSRF prevention, and persisted documents (per client, or for everyone). Batching is
 * limited by the server (10 operations) and the body size by `MAX_BODY_BYTES`.
 */
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { NoSchemaIntrospectionCustomRule, type GraphQLError, type ValidationContext } from 'graphql';
import { createGraphQLError, type GraphQLParams, type Plugin } from 'graphql-yoga';
import type { RequestState } from '../server.js';
import type { ClientRegistry } from './clients.js';
import type { SecurityConfig } from './config.js';
import { useCostLimit, type CostLimit } from './cost.js';
import { useInputLimit, type InputLimit } from './input-limits.js';
import type { PersistedDocuments } from './persisted.js';

export { coercedVariables, costLimit, operationCost, useCostLimit, type CostLimit } from './cost.js';
export { inputLimit, useInputLimit, type InputLimit, type InputLimits } from './input-limits.js';

/**
 * The body of a refusal answered before GraphQL runs (CSRF, body size), with the request id like
 * every error; the request is marked refused, so it is logged and counted with its code.
 */
function refusedBody(state: RequestState | undefined, message: string, code: string): string {
  if (state) {
    state.refused = true;
    state.errorCodes.push(code);
  }
  return JSON.stringify({ errors: [{ message, extensions: { code, ...(state ? { requestId: state.requestId } : {}) } }] });
}

/** A GraphQL error refusing the request, with a code and an HTTP status. */
function refusal(message: string, code: string, status: number) {
  return createGraphQLError(message, { extensions: { code, http: { status } } });
}

/** Introspection refused (production default). */
export function useNoIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

const PREFLIGHT_HEADERS = ['x-graphql-csrf', 'graphql-require-preflight', 'apollo-require-preflight', 'x-apollo-operation-name'];

/**
 * CSRF prevention: a request a browser could send cross-site without a preflight (a GET carrying a
 * query, or a POST whose content type is not JSON) must carry one of the preflight headers
 * (`x-graphql-csrf`, `graphql-require-preflight`, `apollo-require-preflight`, `x-apollo-operation-name`),
 * or, on a GET, a content type no form can send (`application/json`, as Apollo Client's GET queries).
 */
export function useCsrfPrevention(): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI, serverContext }) {
      if (PREFLIGHT_HEADERS.some((h) => request.headers.get(h))) return;
      const type = (request.headers.get('content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase();
      // A content type a form cannot send (Apollo Client's GET queries carry application/json) makes
      // a browser preflight the request, as Apollo Server also reads it: on a GET it is a preflight signal.
      const formType = type === '' || type === 'text/plain' || type === 'application/x-www-form-urlencoded' || type === 'multipart/form-data';
      const simple =
        (request.method === 'GET' && formType && (url.searchParams.has('query') || url.searchParams.has('documentId') || url.searchParams.has('extensions'))) ||
        (request.method === 'POST' && formType);
      if (!simple) return;
      const state = (serverContext as { state?: RequestState } | undefined)?.state;
      const body = refusedBody(state, `This request needs a JSON body or a non-empty ${PREFLIGHT_HEADERS[0]} header (CSRF prevention).`, 'CSRF_PREVENTED');
      endResponse(new fetchAPI.Response(body, { status: 403, headers: { 'content-type': 'application/json; charset=utf-8' } }));
    },
  };
}

/**
 * Persisted documents: resolves `documentId` / `extensions.persistedQuery.sha256Hash` to the
 * manifest's document, and refuses ad-hoc documents to clients limited to persisted operations (or
 * to everyone with `PERSISTED_OPERATIONS=only`).
 */
export function usePersistedDocuments(opts: { documents: PersistedDocuments; clients: ClientRegistry; only: boolean }): Plugin {
  // Yoga refuses unknown body parameters: move `documentId` into the extensions before it checks them.
  const moveId = (p: GraphQLParams): GraphQLParams => {
    const { documentId, ...rest } = p as GraphQLParams & { documentId?: unknown };
    return documentId === undefined ? p : { ...rest, extensions: { ...rest.extensions, documentId } };
  };
  return {
    onRequestParse() {
      return {
        onRequestParseDone({ requestParserResult, setRequestParserResult }) {
          setRequestParserResult(Array.isArray(requestParserResult) ? requestParserResult.map(moveId) : moveId(requestParserResult));
        },
      };
    },
    onParams({ params, setParams, context }) {
      const state = (context as { state?: RequestState }).state;
      const ext = params.extensions as { documentId?: unknown; persistedQuery?: { sha256Hash?: unknown } } | undefined;
      const pq = ext?.persistedQuery;
      const id = typeof ext?.documentId === 'string' ? ext.documentId : typeof pq?.sha256Hash === 'string' ? pq.sha256Hash : undefined;
      if (ext?.documentId !== undefined || pq !== undefined) {
        const op = id === undefined ? undefined : opts.documents.get(id);
        if (!op) throw refusal('Unknown persisted document.', 'PERSISTED_QUERY_NOT_FOUND', 400);
        setParams({ ...params, query: op.document });
        return;
      }
      const refused = persistedRequired(opts, state, params.query);
      if (refused) throw refused;
    },
  };
}

/**
 * The refusal of an ad-hoc document (one not in the manifest) for a client limited to persisted
 * operations, or for everyone with `PERSISTED_OPERATIONS=only`; undefined when it may run.
 */
export function persistedRequired(opts: { documents: PersistedDocuments; clients: ClientRegistry; only: boolean }, state: RequestState | undefined, query: unknown): GraphQLError | undefined {
  const client = state?.client ? opts.clients.byName(state.client.name) : undefined;
  const mustPersist = opts.only || client?.operations === 'persisted';
  if (!mustPersist || (typeof query === 'string' && opts.documents.has(query))) return undefined;
  return refusal(
    client && !opts.only ? `Client ${client.name} may send persisted operations only (documentId).` : 'Only persisted operations are accepted (documentId).',
    'PERSISTED_QUERY_REQUIRED',
    403,
  );
}

/**
 * The request body limit for bodies sent without a `Content-Length` (chunked): read under the limit,
 * answered 413 beyond it. (A declared length over the limit is refused by the server before this.)
 */
export function useBodyLimit(maxBytes: number): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI, serverContext }) {
      if (!requestParser || !request.body || request.headers.get('content-length')) return;
      const inner = requestParser;
      const state = (serverContext as { state?: RequestState } | undefined)?.state;
      setRequestParser(async (req) => {
        const reader = req.body!.getReader();
        const chunks: Uint8Array[] = [];
        let size = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          size += value.byteLength;
          if (size > maxBytes) {
            await reader.cancel().catch(() => {});
            const body = refusedBody(state, `Request body larger than ${maxBytes} bytes.`, 'PAYLOAD_TOO_LARGE');
            return new fetchAPI.Response(body, { status: 413, headers: { 'content-type': 'application/json; charset=utf-8', connection: 'close' } });
          }
          chunks.push(value);
        }
        const buf = Buffer.concat(chunks, size);
        return inner(new fetchAPI.Request(req.url, { method: req.method, headers: req.headers, body: buf }));
      });
    },
  };
}

/**
 * The longest document a client may send. Comments are not tokens: without this, a document of three
 * tokens and a megabyte of comment passes the token limit and is parsed, validated and cached whole.
 * Checked on the client's text, before a persisted document replaces it.
 */
export function useDocumentLimit(maxLength: number): Plugin {
  return {
    onParams({ params }) {
      const query = params.query;
      if (typeof query === 'string' && query.length > maxLength) {
        throw refusal(`The document is ${query.length} characters long; at most ${maxLength} are accepted (GRAPHQL_MAX_DOCUMENT_LENGTH).`, 'DOCUMENT_TOO_LARGE', 413);
      }
    },
  };
}

/** Every hardening plugin, configured. */
export function hardeningPlugins(opts: { config: SecurityConfig; documents: PersistedDocuments; clients: ClientRegistry; maxBodyBytes: number; costLimit: CostLimit; inputLimit: InputLimit }): Plugin[] {
  const c = opts.config;
  // Depth, aliases and directives are reported as validation errors (HTTP 400, GRAPHQL_VALIDATION_FAILED).
  const reject = {
    exposeLimits: true,
    propagateOnRejection: false,
    onReject: [
      (ctx: ValidationContext | null, err: GraphQLError) =>
        ctx?.reportError(createGraphQLError(err.message.replace(/^Syntax Error: /, ''), { extensions: { http: { spec: true, status: 400 } } })),
    ],
  };
  const plugins: Plugin[] = [
    useBodyLimit(opts.maxBodyBytes),
    useDocumentLimit(c.maxDocumentLength),
    usePersistedDocuments({ documents: opts.documents, clients: opts.clients, only: c.persistedOperations === 'only' }),
    maxTokensPlugin({ n: c.maxTokens, exposeLimits: true }) as Plugin,
    maxDepthPlugin({ n: c.maxDepth, ignoreIntrospection: true, flattenFragments: true, ...reject }) as Plugin,
    maxAliasesPlugin({ n: c.maxAliases, ...reject }) as Plugin,
    maxDirectivesPlugin({ n: c.maxDirectives, ...reject }) as Plugin,
    useInputLimit(opts.inputLimit),
    useCostLimit(opts.costLimit),
  ];
  if (c.csrfPrevention) plugins.unshift(useCsrfPrevention());
  if (!c.introspection) plugins.push(useNoIntrospection());
  if (!c.fieldSuggestions) plugins.push(blockFieldSuggestionsPlugin() as Plugin);
  return plugins;
}
