/**
 * What the gateway tracks for one GraphQL request, from its first byte to its log line: shared by
 * the context, the plugins, the request line and the observability hooks.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Cancel, type RequestScope, type UpstreamTrace } from '../connector/index.js';
import type { ResponseEncoding } from './compression.js';
import type { User } from '../identity.js';

/** A named API client and what it may do. Filled in by the security layer (`src/security/`). */
export interface ClientIdentity {
  readonly name: string;
  readonly permissions: ReadonlySet<string>;
}

/** What the gateway tracks for one HTTP request, shared by the context, plugins and the log line. */
export interface RequestState {
  readonly requestId: string;
  /** The request's headers, for hooks that run when GraphQL never did (a refusal's trace context). */
  readonly headers: IncomingHttpHeaders;
  /** The HTTP request (its method, URL and socket, for the server span's attributes). */
  readonly req: IncomingMessage;
  readonly startedAt: number;
  /** Aborted when the client goes away before its answer: every upstream call of the request stops. */
  readonly abort: Cancel;
  readonly deadlineMs: number;
  operationName: string | null;
  operationType: string | null;
  scope: RequestScope | null;
  user: User | null;
  /** The identified API client (web, mobile, partner...), set by the security layer; null when anonymous. */
  client: ClientIdentity | null;
  errorCodes: string[];
  /**
   * Answered before GraphQL ran: identification (401, 429, 503), the body size (413) or CSRF
   * prevention (403). Logged, traced and counted like any request, with the outcome `refused`.
   */
  refused: boolean;
  /** Headers sent with every upstream call of this request (W3C trace context), set by the observability plugin. */
  propagate?: Record<string, string> | undefined;
  /** Each upstream attempt's own span and trace headers, set by the observability plugin. */
  upstreamTrace?: UpstreamTrace | undefined;
  /** The W3C trace id of this request (the client's, or a new one), set by the observability plugin. */
  traceId?: string | undefined;
  /** How its answer may be compressed (`Accept-Encoding`), undefined with COMPRESSION=off. */
  encoding?: ResponseEncoding | undefined;
}

/** A client's `x-request-id` is used when it matches this (no spaces, no CR/LF, at most 128 characters); else one is generated. */
export const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A Node header's value: the first of a repeated header. */
export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The request's id: the client's `x-request-id` when it is acceptable, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const given = headerValue(req.headers['x-request-id']);
  return given && REQUEST_ID.test(given) ? given : randomUUID();
}

/** The request's deadline: `x-request-timeout-ms` may lower the configured one, never raise it. */
function deadlineOf(req: IncomingMessage, maxMs: number): number {
  const asked = Number(headerValue(req.headers['x-request-timeout-ms']));
  return Number.isFinite(asked) && asked > 0 ? Math.min(asked, maxMs) : maxMs;
}

/** A new request's state, started now. */
export function newRequestState(req: IncomingMessage, requestId: string, requestTimeoutMs: number): RequestState {
  return {
    requestId,
    headers: req.headers,
    req,
    startedAt: performance.now(),
    abort: new Cancel(),
    deadlineMs: deadlineOf(req, requestTimeoutMs),
    operationName: null,
    operationType: null,
    scope: null,
    user: null,
    client: null,
    errorCodes: [],
    refused: false,
  };
}
