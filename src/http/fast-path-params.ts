/**
 * Which JSON POSTs the fast path takes (`src/http/fast-path.ts`): one operation (not a batch) with
 * only the standard keys (a persisted document's `documentId` included), well typed, asking for a regular JSON
 * answer, and no browser origin when CORS is configured. Anything else is served by yoga's Node
 * adapter: through the same plugins, only with the Fetch API objects.
 */
import type { IncomingMessage } from 'node:http';
import type { CorsOrigins } from './cors.js';
import { acceptedMediaType } from './json-response.js';
import { headerValue } from './request-state.js';

/** The parameters of a JSON POST the fast path takes. */
export interface FastPathParams {
  /** The document's text; null when the body names a persisted document instead (`documentId`). */
  readonly query: string | null;
  readonly documentId?: string;
  readonly operationName: string | null;
  readonly variables: Readonly<Record<string, unknown>>;
}

const BODY_KEYS = new Set(['query', 'documentId', 'variables', 'operationName', 'extensions']);
const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const NO_VARIABLES: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * The parameters of a parsed JSON body, when the fast path takes it: one operation (not a
 * batch) with only the standard keys, well typed: a query's text, a persisted document's id, or
 * Apollo's `persistedQuery` extension (hash only, or with the text to register), whose documents
 * yoga's persisted-documents and APQ plugins find in onParams on either path. Else undefined.
 */
export function fastPathParams(body: unknown): FastPathParams | undefined {
  if (!isPlainObject(body)) return undefined;
  for (const k in body) if (!BODY_KEYS.has(k)) return undefined;
  const { query, documentId, variables, operationName, extensions } = body;
  // A document's text, or a persisted document's id (the persisted-documents plugin finds its text
  // in onParams, on either path): never both, never neither.
  if (extensions != null && (!isPlainObject(extensions) || 'documentId' in extensions)) return undefined;
  const apq = extensions?.persistedQuery;
  if (apq !== undefined && (!isPlainObject(apq) || typeof apq.sha256Hash !== 'string' || documentId != null)) return undefined;
  if (typeof query === 'string' ? documentId != null : query != null || (typeof documentId !== 'string' && apq === undefined)) return undefined;
  if (variables != null && !isPlainObject(variables)) return undefined;
  if (operationName != null && typeof operationName !== 'string') return undefined;
  return {
    query: typeof query === 'string' ? query : null,
    ...(typeof documentId === 'string' ? { documentId } : {}),
    operationName: (operationName as string | null | undefined) ?? null,
    variables: (variables as Record<string, unknown> | null | undefined) ?? NO_VARIABLES,
  };
}


/** Whether the fast path takes a JSON POST with this parsed body. */
export function takesFastPath(req: IncomingMessage, body: unknown, corsOrigins: CorsOrigins): boolean {
  // A stream (event stream, multipart) is written by the adapter from yoga's Response.
  if (!acceptedMediaType(headerValue(req.headers.accept))) return false;
  // CORS headers are added by yoga's onResponse hook, to a Response.
  if (corsOrigins !== null && req.headers.origin !== undefined) return false;
  return fastPathParams(body) !== undefined;
}
