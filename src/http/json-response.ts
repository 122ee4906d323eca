/**
 * A regular (single, non-streamed) JSON answer, as yoga's result processor writes it
 * (`processRegularResult`): the media type it picks for an Accept header, the HTTP status it derives
 * from the errors' and the result's `extensions.http`, and the body without the internal extensions
 * (`http`, `unexpected`). The fast path writes these bytes straight to the Node response, where yoga
 * would build a Fetch `Response` and copy it; `test/direct.test.ts` holds the two byte for byte.
 */
import type { ServerResponse } from 'node:http';
import { encodeBody, type ResponseEncoding } from './compression.js';
import { GraphQLError, type ExecutionResult } from 'graphql';

const REGULAR = ['application/graphql-response+json', 'application/json'] as const;
export type JsonMediaType = (typeof REGULAR)[number];

/**
 * Yoga's reading of an Accept header against `candidates`: the first listed entry (utf-8 only, wildcards
 * allowed) that matches any candidate, answered as the last candidate it matches; undefined when none
 * does. The caller decides what no header means.
 */
function firstAccepted<T extends string>(accept: string, candidates: readonly T[]): T | undefined {
  for (const entry of accept.replace(/\s/g, '').toLowerCase().split(',')) {
    const [type, ...params] = entry.split(';');
    if (!type) continue;
    const charset = params.find((p) => p.includes('charset=')) ?? 'charset=utf-8';
    if (charset !== 'charset=utf-8') continue;
    const [pre, suf] = type.split('/');
    let match: T | undefined;
    for (const candidate of candidates) {
      const [cPre, cSuf] = candidate.split('/');
      if ((pre === '*' || pre === cPre) && (suf === '*' || suf === cSuf)) match = candidate;
    }
    if (match) return match;
  }
  return undefined;
}

/**
 * The media type yoga answers a regular (non-streamed) result with for this Accept header, or
 * undefined when it would pick another processor (event stream, multipart) or none. Yoga's rule: its
 * JSON processor wins whenever any listed type (utf-8 only) matches a JSON type, with the first such
 * listed type, preferring `application/json` when both match (`*\/*`); no Accept header means `*\/*`.
 */
export function acceptedMediaType(accept: string | undefined): JsonMediaType | undefined {
  return accept ? firstAccepted(accept, REGULAR) : 'application/json';
}

/** Every media type the gateway answers in: regular JSON, and the two forms of incremental delivery. */
export const SERVED_MEDIA_TYPES = [...REGULAR, 'multipart/mixed', 'text/event-stream'] as const;
const STREAMED = ['multipart/mixed', 'text/event-stream'] as const;

/** Whether an Accept header lists (by yoga's rule) one of `types`; no Accept header means `*\/*`. */
export function acceptsAnyOf(accept: string | null | undefined, types: readonly string[]): boolean {
  return !accept || firstAccepted(accept, types) !== undefined;
}

/** Whether an Accept header lets a result be answered in parts (@defer/@stream). */
export const acceptsIncremental = (accept: string | null | undefined): boolean => acceptsAnyOf(accept, STREAMED);

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

/** Write a regular result: yoga's status, headers and body, encoded once (the socket writes the bytes as they are, and their length is the Content-Length). */
export function writeJsonResult(res: ServerResponse, result: ExecutionResult, mediaType: JsonMediaType, encoding?: ResponseEncoding): void {
  const init = responseInit(result, mediaType);
  const { body, headers } = encodeBody(Buffer.from(serializeResult(result)), encoding);
  if (res.destroyed) return;
  res.writeHead(init.status, { ...init.headers, ...headers, 'content-type': `${mediaType}; charset=utf-8`, 'content-length': body.length });
  res.end(body);
}
