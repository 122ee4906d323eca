/** Credential checks shared by the sandbox upstreams (constant-time comparisons). */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Ctx } from './descriptor.js';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time string comparison (compares SHA-256 digests, so lengths leak nothing either). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const m = /^Bearer +(\S+) *$/i.exec(header(headers, 'authorization') ?? '');
  return m?.[1];
}

/** [user, password] of `Authorization: Basic <base64(user:password)>`, or undefined. */
export function basicCredentials(headers: IncomingHttpHeaders): [string, string] | undefined {
  const m = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header(headers, 'authorization') ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return [decoded.slice(0, i), decoded.slice(i + 1)];
}

/** `Authorization: Bearer <expected>`. */
export function bearerIs(ctx: Ctx, expected: string | undefined): boolean {
  const t = bearerToken(ctx.headers);
  return t !== undefined && expected !== undefined && safeEqual(t, expected);
}

/** `X-Api-Key: <expected>`. */
export function apiKeyIs(ctx: Ctx, expected: string | undefined): boolean {
  const k = header(ctx.headers, 'x-api-key');
  return k !== undefined && expected !== undefined && safeEqual(k, expected);
}

/** HTTP Basic with both parts (both compared, no short-circuit, to keep timing uniform). */
export function basicIs(ctx: Ctx, user: string | undefined, password: string | undefined): boolean {
  const b = basicCredentials(ctx.headers);
  const userOk = safeEqual(b?.[0] ?? '', user ?? '');
  const passOk = safeEqual(b?.[1] ?? '', password ?? '');
  return b !== undefined && user !== undefined && password !== undefined && userOk && passOk;
}

export const BEARER_CHALLENGE = (name: string): string => `Bearer realm="sandbox-${name}"`;
export const API_KEY_CHALLENGE = 'ApiKey header="X-Api-Key"';
export const BASIC_CHALLENGE = (name: string): string => `Basic realm="sandbox-${name}"`;
