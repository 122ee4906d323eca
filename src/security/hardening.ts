/**
 * GraphQL hardening as yoga/envelop plugins: limits on depth, aliases, tokens and directives
 * (graphql-armor), a list-size-aware cost limit, introspection and field suggestions off in
 * production, CSRF prevention, and persisted documents (per client, or for everyone). Batching is
 * limited by the server (10 operations) and the body size by `MAX_BODY_BYTES`.
 */
import { blockFieldSuggestionsPlugin } from '@escape.tech/graphql-armor-block-field-suggestions';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import {
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  isInterfaceType,
  Kind,
  NoSchemaIntrospectionCustomRule,
  type DocumentNode,
  type GraphQLError,
  type ValidationContext,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { createGraphQLError, type GraphQLParams, type Plugin } from 'graphql-yoga';
import type { RequestState } from '../server.js';
import type { ClientRegistry } from './clients.js';
import type { SecurityConfig } from './config.js';
import type { PersistedDocuments } from './persisted.js';

/** Arguments that bound the size of a list (on the list field, or on the connection field above it). */
const SIZE_ARGS = new Set(['first', 'last', 'limit', 'size']);

function argNumber(value: ValueNode, variables: Readonly<Record<string, unknown>>, read?: Set<string>): number | undefined {
  if (value.kind === Kind.INT) return Number(value.value);
  if (value.kind === Kind.VARIABLE) {
    read?.add(value.name.value);
    const v = variables[value.name.value];
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  }
  return undefined;
}

/**
 * The cost of an operation: every field costs 1, multiplied by the sizes of the lists it is inside.
 * A list's size is its `first`/`last`/`limit`/`size` argument, or that of the connection field just
 * above it (`products(first: 20) { nodes { ... } }`), else `defaultListSize`. `__typename` and
 * introspection fields are free (introspection has its own switch).
 *
 * @example
 * operationCost(schema, parse('{ category(slug: "x") { products(first: 20) { nodes { id } } } }'), null, {}, 10) // 1 + 1 + 20 + 20
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Readonly<Record<string, unknown>>,
  defaultListSize: number,
  /** Collects the names of the variables the cost depends on. */
  read?: Set<string>,
): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  let operation: OperationDefinitionNode | undefined;
  for (const d of document.definitions) {
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
    else if (d.kind === Kind.OPERATION_DEFINITION && (!operationName || d.name?.value === operationName)) operation ??= d;
  }
  if (!operation) return 0;
  const root = operation.operation === 'query' ? schema.getQueryType() : operation.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
  if (!root) return 0;

  const walk = (set: SelectionSetNode, parent: GraphQLNamedType, multiplier: number, inherited: number | undefined, depth: number): number => {
    if (depth > 64) return Infinity; // fragments that nest beyond reason: priced out
    let cost = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.INLINE_FRAGMENT) {
        const t = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : parent;
        if (t) cost += walk(sel.selectionSet, t, multiplier, inherited, depth + 1);
        continue;
      }
      if (sel.kind === Kind.FRAGMENT_SPREAD) {
        const f = fragments.get(sel.name.value);
        const t = f && schema.getType(f.typeCondition.name.value);
        if (f && t) cost += walk(f.selectionSet, t, multiplier, inherited, depth + 1);
        continue;
      }
      const name = sel.name.value;
      // Introspection is not priced: it is governed by its own switch (off in production).
      if (name.startsWith('__')) continue;
      let def: GraphQLField<unknown, unknown> | undefined;
      if (isObjectType(parent) || isInterfaceType(parent)) def = parent.getFields()[name];
      if (!def) continue; // validation reports unknown fields
      let size: number | undefined;
      for (const a of sel.arguments ?? []) {
        if (SIZE_ARGS.has(a.name.value)) size = argNumber(a.value, variables, read);
      }
      const list = isListType(getNullableType(def.type));
      const items = list ? Math.max(0, size ?? inherited ?? defaultListSize) : 1;
      cost += multiplier * items;
      if (sel.selectionSet) cost += walk(sel.selectionSet, getNamedType(def.type), multiplier * items, list ? undefined : size, depth + 1);
    }
    return cost;
  };
  return walk(operation.selectionSet, root, 1, undefined, 0);
}

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

/** Costs kept per operation of a document: one per combination of the size variables' values. */
const MAX_COSTS_PER_OPERATION = 64;

export type CostLimit = (
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Readonly<Record<string, unknown>> | null | undefined,
) => GraphQLError | undefined;

/**
 * The cost limit: the refusal of an operation over it (with the request's variables), or undefined.
 * A document's cost depends only on the values of the variables its size arguments read, so it is
 * computed once per operation and combination of those values (a CategoryPage with `first: 20`), not
 * walked on every request. One limiter serves one schema.
 */
export function costLimit(config: Pick<SecurityConfig, 'maxCost' | 'defaultListSize'>): CostLimit {
  /** Per document and operation: the variables its cost reads, and the costs seen by their values. */
  const memo = new WeakMap<DocumentNode, Map<string, { vars: readonly string[]; readonly costs: Map<string, number> }>>();
  return (schema, document, operationName, variables) => {
    const vars = variables ?? {};
    let byOperation = memo.get(document);
    if (!byOperation) memo.set(document, (byOperation = new Map()));
    let entry = byOperation.get(operationName ?? '');
    // The first walk also finds which variables the cost depends on.
    const read = entry ? undefined : new Set<string>();
    const key = entry ? valueKey(entry.vars, vars) : undefined;
    let cost = key === undefined ? undefined : entry!.costs.get(key);
    if (cost === undefined) {
      cost = operationCost(schema, document, operationName, vars, config.defaultListSize, read);
      if (!entry) byOperation.set(operationName ?? '', (entry = { vars: [...read!], costs: new Map() }));
      if (entry.costs.size < MAX_COSTS_PER_OPERATION) entry.costs.set(key ?? valueKey(entry.vars, vars), cost);
    }
    return cost <= config.maxCost ? undefined : costError(cost, config.maxCost);
  };
}

/** The values of the size variables a cost depends on (only finite numbers count as a size). */
function valueKey(vars: readonly string[], variables: Readonly<Record<string, unknown>>): string {
  return vars.map((v) => (typeof variables[v] === 'number' && Number.isFinite(variables[v]) ? String(variables[v]) : '-')).join(',');
}

function costError(cost: number, maxCost: number): GraphQLError {
  return createGraphQLError(`Operation cost ${Number.isFinite(cost) ? cost : 'unbounded'} exceeds the limit of ${maxCost}.`, {
    extensions: { code: 'COST_LIMIT_EXCEEDED', cost: Number.isFinite(cost) ? cost : null, limit: maxCost, http: { status: 400 } },
  });
}

/** The cost limit, applied before execution with the request's variables. */
export function useCostLimit(limit: CostLimit): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refused = limit(args.schema, args.document, args.operationName, args.variableValues as Record<string, unknown> | undefined);
      if (refused) setResultAndStopExecution({ errors: [refused] });
    },
  };
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
 * (`x-graphql-csrf`, `graphql-require-preflight`, `apollo-require-preflight`, `x-apollo-operation-name`).
 */
export function useCsrfPrevention(): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI, serverContext }) {
      if (PREFLIGHT_HEADERS.some((h) => request.headers.get(h))) return;
      const type = (request.headers.get('content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase();
      const simple =
        (request.method === 'GET' && (url.searchParams.has('query') || url.searchParams.has('documentId') || url.searchParams.has('extensions'))) ||
        (request.method === 'POST' && (type === '' || type === 'text/plain' || type === 'application/x-www-form-urlencoded' || type === 'multipart/form-data'));
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

/** Every hardening plugin, configured. */
export function hardeningPlugins(opts: { config: SecurityConfig; documents: PersistedDocuments; clients: ClientRegistry; maxBodyBytes: number; costLimit: CostLimit }): Plugin[] {
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
    usePersistedDocuments({ documents: opts.documents, clients: opts.clients, only: c.persistedOperations === 'only' }),
    maxTokensPlugin({ n: c.maxTokens, exposeLimits: true }) as Plugin,
    maxDepthPlugin({ n: c.maxDepth, ignoreIntrospection: true, flattenFragments: true, ...reject }) as Plugin,
    maxAliasesPlugin({ n: c.maxAliases, ...reject }) as Plugin,
    maxDirectivesPlugin({ n: c.maxDirectives, ...reject }) as Plugin,
    useCostLimit(opts.costLimit),
  ];
  if (c.csrfPrevention) plugins.unshift(useCsrfPrevention());
  if (!c.introspection) plugins.push(useNoIntrospection());
  if (!c.fieldSuggestions) plugins.push(blockFieldSuggestionsPlugin() as Plugin);
  return plugins;
}
