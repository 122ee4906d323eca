/**
 * Answers the server writes itself, before GraphQL runs: a refusal (identification 401/429/503,
 * the body size 413), and the JSON of the health checks, a 404 or a failed route. A refusal is
 * logged, traced and counted like any request, with the outcome `refused`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { allowedOrigin, corsHeaders, type CorsOrigins } from './cors.js';
import { headerValue, type ClientIdentity, type RequestState } from './request-state.js';

/** A request answered before GraphQL runs; `client` names the identified client (a 429), never its key. */
export interface Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly retryAfterSeconds?: number;
  readonly client?: string;
}

/** A request's client, none (not identified), or a refusal answered before GraphQL runs. */
export type Identified = ClientIdentity | null | Refusal;

const NO_PERMISSIONS: ReadonlySet<string> = new Set();

/** A GraphQL-shaped error body with its code and the request id. */
export function errorBody(message: string, code: string, requestId: string): { errors: { message: string; extensions: { code: string; requestId: string } }[] } {
  return { errors: [{ message, extensions: { code, requestId } }] };
}

/** Write a JSON answer; with `cors`, an allowed browser origin may read it, as it may read yoga's answers. */
export function sendJson(res: ServerResponse, status: number, body: unknown, cors?: { req: IncomingMessage; origins: CorsOrigins }): void {
  const payload = JSON.stringify(body);
  const origin = cors ? allowedOrigin(cors.origins, headerValue(cors.req.headers.origin)) : undefined;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), ...corsHeaders(origin) });
  res.end(payload);
}

/** The refusal of a body over `MAX_BODY_BYTES`. */
export function tooLarge(maxBodyBytes: number): Refusal {
  return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: `Request body larger than ${maxBodyBytes} bytes.` };
}

/** The refusal when the client's identification failed (the shared rate limit could not be counted). */
export const IDENTIFICATION_FAILED: Refusal = { status: 503, code: 'UNAVAILABLE', message: 'The client could not be identified; retry later.', retryAfterSeconds: 1 };

/** Answer a refusal before GraphQL runs: the error (with the request id), recorded in the request's state for its log line, trace and metrics. */
export function refuse(req: IncomingMessage, res: ServerResponse, state: RequestState, refusal: Refusal, origins: CorsOrigins): void {
  state.refused = true;
  state.errorCodes.push(refusal.code);
  if (refusal.client) state.client = { name: refusal.client, permissions: NO_PERMISSIONS };
  if (refusal.retryAfterSeconds) res.setHeader('retry-after', String(refusal.retryAfterSeconds));
  sendJson(res, refusal.status, errorBody(refusal.message, refusal.code, state.requestId), { req, origins });
  req.resume();
}
