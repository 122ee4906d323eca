/**
 * The direct path: what lets the server execute a JSON POST of a document it has already accepted
 * without yoga. Yoga turns every Node request into Fetch API objects (Request, Headers, URL, a body
 * stream, then a Response piped back) and runs its plugin pipeline around parse, validate and
 * execute; for a document it has parsed and validated before, none of that decides anything.
 *
 * - `KnownDocuments` learns, through a plugin placed after every validation rule, which query texts
 *   yoga parsed and validated (armor limits, introspection rule and all): only those are ever
 *   executed directly. The first request of a document, an invalid one, a batch, a persisted-document
 *   id, a GET, a non-JSON body or an unusual Accept header take yoga's path, so every refusal and
 *   error keeps yoga's exact answer.
 * - `acceptedMediaType` and `responseInit` reproduce yoga's choice of media type and HTTP status, and
 *   `serializeResult` its removal of internal extensions (`http`, `unexpected`) before JSON.
 *
 * The server (`src/server.ts`) does the rest with the same functions yoga's plugins call (error
 * masking, the result policy, the security and observability hooks).
 */
import { GraphQLError, Kind, type DocumentNode, type ExecutionResult, type GraphQLSchema, type OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { LRUCache } from 'lru-cache';
import type { CompiledOperations, Runner } from './execution.js';
import type { RequestState } from './server.js';

/** The parameters of a JSON POST the direct path can serve. */
export interface DirectParams {
  readonly query: string;
  readonly operationName: string | null;
  readonly variables: Readonly<Record<string, unknown>>;
}

/**
 * What a layer (security, observability) does for a request executed directly: the same rules its
 * yoga plugin applies, called by the server at the same points.
 */
export interface DirectHooks {
  /**
   * false: yoga serves this request instead (the layer refuses it, and yoga's plugin answers with the
   * refusal). Called before anything else runs; must not change state.
   */
  readonly admit?: (state: RequestState, params: DirectParams, document: DocumentNode, schema: GraphQLSchema) => boolean;
  /** The request is executed directly: called once, before its context is built. */
  readonly start?: (state: RequestState, params: DirectParams) => void;
  /** The result, after error masking and the result policy, before it is written. */
  readonly result?: (state: RequestState, result: ExecutionResult) => ExecutionResult;
}

export interface KnownDocument {
  readonly document: DocumentNode;
  /** Its queries and mutations by name; the key `null` holds the document's only operation (a request without operationName). */
  readonly operations: ReadonlyMap<string | null, OperationDefinitionNode>;
}

const BODY_KEYS = new Set(['query', 'variables', 'operationName', 'extensions']);
const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const NO_VARIABLES: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * The parameters of a parsed JSON body, when the direct path may serve it: one operation (not a
 * batch) with only the standard keys, well typed, and no persisted-document id. Else undefined.
 */
export function directParams(body: unknown): DirectParams | undefined {
  if (!isPlainObject(body)) return undefined;
  for (const k in body) if (!BODY_KEYS.has(k)) return undefined;
  const { query, variables, operationName, extensions } = body;
  if (typeof query !== 'string') return undefined;
  if (variables != null && !isPlainObject(variables)) return undefined;
  if (operationName != null && typeof operationName !== 'string') return undefined;
  if (extensions != null && (!isPlainObject(extensions) || 'persistedQuery' in extensions || 'documentId' in extensions)) return undefined;
  return { query, operationName: (operationName as string | null | undefined) ?? null, variables: (variables as Record<string, unknown> | null | undefined) ?? NO_VARIABLES };
}

const REGULAR = ['application/graphql-response+json', 'application/json'] as const;
export type JsonMediaType = (typeof REGULAR)[number];

/**
 * The media type yoga answers a regular (non-streamed) result with for this Accept header, or
 * undefined when it would pick another processor (event stream, multipart) or none. Yoga's rule: its
 * JSON processor wins whenever any listed type (utf-8 only) matches a JSON type, with the first such
 * listed type, preferring `application/json` when both match (`*\/*`); no Accept header means `*\/*`.
 */
export function acceptedMediaType(accept: string | undefined): JsonMediaType | undefined {
  if (!accept) return 'application/json';
  for (const entry of accept.replace(/\s/g, '').toLowerCase().split(',')) {
    const [type, ...params] = entry.split(';');
    if (type === undefined) continue;
    const charset = params.find((p) => p.includes('charset=')) ?? 'charset=utf-8';
    if (charset !== 'charset=utf-8') continue;
    const [pre, suf] = type.split('/');
    let match: JsonMediaType | undefined;
    for (const candidate of REGULAR) {
      const [cPre, cSuf] = candidate.split('/');
      if ((pre === '*' || pre === cPre) && (suf === '*' || suf === cSuf)) match = candidate;
    }
    if (match) return match;
  }
  return undefined;
}

const isOriginalGraphQLError = (e: unknown): boolean => e instanceof GraphQLError && (e.originalError == null || isOriginalGraphQLError(e.originalError));

interface HttpExtension {
  status?: number;
  headers?: Record<string, string>;
  spec?: boolean;
}

/** The HTTP status and extra headers of a result, as yoga derives them from the errors' and result's `extensions.http`. */
export function responseInit(result: ExecutionResult, mediaType: JsonMediaType): { status: number; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  let status: number | undefined;
  let unexpected = false;
  const http = result.extensions?.http as HttpExtension | undefined;
  if (http?.headers) Object.assign(headers, http.headers);
  if (http?.status) status = http.status;
  const errors = result.errors;
  if (errors?.length) {
    // Spec errors (validation) do not set the status under application/json, when the errors are GraphQL's.
    const lenient = mediaType === 'application/json' && errors.some((e) => e instanceof GraphQLError) && errors.some((e) => !e.extensions?.originalError || e.extensions.originalError instanceof GraphQLError);
    for (const e of errors) {
      const h = e.extensions?.http as HttpExtension | undefined;
      if (h) {
        if (h.headers) Object.assign(headers, h.headers);
        if (lenient && h.spec) continue;
        if (h.status && (!status || h.status > status)) status = h.status;
      } else if (!isOriginalGraphQLError(e) || e.extensions?.unexpected) {
        unexpected = true;
      }
    }
  } else {
    status ||= 200;
  }
  if (!status) status = unexpected && !('data' in result) ? 500 : 200;
  return { status, headers };
}

function withoutInternals(e: GraphQLError): GraphQLError {
  const { http: _http, unexpected: _unexpected, ...extensions } = (e.extensions ?? {}) as Record<string, unknown>;
  return new GraphQLError(e.message, {
    nodes: e.nodes,
    source: e.source,
    positions: e.positions,
    path: e.path,
    originalError: e.originalError,
    extensions: Object.keys(extensions).length ? extensions : undefined,
  });
}

/** The JSON body of a result, without the internal extensions (`http`, `unexpected`) clients never see. */
export function serializeResult(result: ExecutionResult): string {
  if (!result.errors?.length && !result.extensions?.http) return JSON.stringify(result);
  const out: ExecutionResult = { ...result };
  if (result.errors) (out as { errors: readonly GraphQLError[] }).errors = result.errors.map(withoutInternals);
  if (result.extensions) {
    const { http: _http, ...extensions } = result.extensions;
    (out as { extensions?: Record<string, unknown> }).extensions = Object.keys(extensions).length ? extensions : undefined;
  }
  return JSON.stringify(out);
}

/**
 * Query texts yoga has parsed and validated, with their documents, bounded (least recently used
 * out). The schema is fixed for the process, so a document valid once is valid for every request.
 */
export class KnownDocuments {
  private readonly docs: LRUCache<string, KnownDocument>;
  private readonly sources = new WeakMap<DocumentNode, string>();

  constructor(
    /** How operations run: the same compiled queries as yoga's path. */
    private readonly compiled: CompiledOperations,
    maxDocuments = 1000,
  ) {
    this.docs = new LRUCache({ max: maxDocuments });
  }

  /** The yoga plugin that learns: put it after every plugin that adds validation rules. */
  plugin(): Plugin {
    return {
      onParse: ({ params }) => {
        const source = typeof params.source === 'string' ? params.source : params.source.body;
        return ({ result }) => {
          if (result && typeof result === 'object' && (result as DocumentNode).kind === Kind.DOCUMENT) this.sources.set(result as DocumentNode, source);
        };
      },
      onValidate: ({ params }) => {
        const document = params.documentAST;
        return ({ valid }) => {
          const source = this.sources.get(document);
          if (valid && source !== undefined && !this.docs.has(source)) this.learn(source, document);
        };
      },
    };
  }

  private learn(source: string, document: DocumentNode): void {
    const operations = new Map<string | null, OperationDefinitionNode>();
    const all: OperationDefinitionNode[] = [];
    for (const d of document.definitions) {
      if (d.kind !== Kind.OPERATION_DEFINITION) continue;
      all.push(d);
      // Queries and mutations only: a subscription is a stream, which yoga serves.
      if (d.operation === 'subscription') continue;
      if (d.name) operations.set(d.name.value, d);
    }
    const only = all.length === 1 ? all[0]! : undefined;
    if (only && only.operation !== 'subscription') operations.set(null, only);
    if (operations.size) this.docs.set(source, { document, operations });
  }

  get size(): number {
    return this.docs.size;
  }

  /** The operation a request asks for, with how to run it; undefined when yoga must serve the request. */
  operation(params: DirectParams): { document: DocumentNode; node: OperationDefinitionNode; run: Runner } | undefined {
    const known = this.docs.get(params.query);
    const node = known?.operations.get(params.operationName);
    if (!known || !node) return undefined;
    const run = this.compiled.runner(known.document, node.name?.value ?? null);
    return run ? { document: known.document, node, run } : undefined;
  }
}
