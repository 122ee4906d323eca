/**
 * CORS for browser apps on other origins (`CORS_ORIGINS`): an allowed origin is echoed (with Vary:
 * Origin); any other, `null` included, gets no CORS headers at all. Bearer tokens and API keys
 * travel in headers, never cookies: credentials are not allowed. The app may read the request id
 * and Retry-After. Yoga's CORS plugin answers preflights and decorates its answers; the server's
 * own answers (refusals before GraphQL) get the same headers from `corsHeaders`.
 */
import type { GatewayConfig } from '../config.js';

/** Response headers a browser app may read. */
const CORS_EXPOSED = ['x-request-id', 'retry-after'];
/** CORS for an allowed origin: echoed (`*` makes yoga echo the request's Origin, with Vary). */
const CORS_ALLOWED = { origin: '*', credentials: false, exposedHeaders: CORS_EXPOSED, maxAge: 600 };

export type CorsOrigins = GatewayConfig['corsOrigins'];

/** The request's Origin when CORS_ORIGINS allows it (any, with `*`), else undefined. */
export function allowedOrigin(origins: CorsOrigins, origin: string | null | undefined): string | undefined {
  if (!origin || origins === null) return undefined;
  if (origins === '*') return origin;
  return origins.includes(origin) ? origin : undefined;
}

/** Yoga's `cors` option for CORS_ORIGINS: off without it, else the allowed origins only. */
export function yogaCors(origins: CorsOrigins): false | ((request: Request) => typeof CORS_ALLOWED | false) {
  if (origins === null) return false;
  return (request) => (allowedOrigin(origins, request.headers.get('origin')) ? CORS_ALLOWED : false);
}

/** The CORS headers of an answer the server writes itself, for an allowed origin. */
export function corsHeaders(origin: string | undefined): Record<string, string> {
  return origin ? { 'access-control-allow-origin': origin, vary: 'Origin', 'access-control-expose-headers': CORS_EXPOSED.join(', ') } : {};
}
