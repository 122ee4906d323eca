/**
 * HTTP caching of GET queries, so a CDN or the browser can keep them: `Cache-Control` from what the
 * query read, and an `ETag` with `304 Not Modified` on a matching `If-None-Match`.
 *
 * - `public, max-age=<s>`: every upstream endpoint the request read (called or served from the cache)
 *   is cached with scope `public`; the age is the shortest of their TTLs.
 * - `private, max-age=<s>`: a signed-in user's request, or one that read a `user`-scoped endpoint.
 * - `no-store`: any error in the answer (partial data), or an endpoint that is never cached.
 * - `no-cache`: nothing upstream was read: the answer is revalidated each time (a 304 is cheap).
 *
 * The ETag is weak (`W/"…"`, a digest of the JSON): the same answer in gzip or br matches it too.
 * POST answers get none of this (HTTP does not cache them); only GETs, which are queries.
 */
import { createHash } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import type { Connector } from '../connector/index.js';
import type { RequestState } from './request-state.js';

type Scope = 'public' | 'user' | 'none';

/** The Cache-Control of an answer, from the request's reads, user and errors. */
export function cacheControlOf(state: RequestState, connector: Pick<Connector, 'definitions'>): string {
  if (state.errorCodes.length > 0) return 'no-store';
  const read = new Set<string>();
  for (const a of state.scope?.attempts ?? []) read.add(`${a.upstream}\u0000${a.endpoint}`);
  for (const c of state.scope?.cacheEvents ?? []) read.add(`${c.upstream}\u0000${c.endpoint}`);
  if (read.size === 0) return 'no-cache';
  let ttlMs = Infinity;
  let userScoped = state.user !== null;
  for (const key of read) {
    const [upstream, endpoint] = key.split('\u0000') as [string, string];
    const def = connector.definitions.get(upstream)?.endpoints[endpoint] as { cache?: { ttlMs: number; scope: Scope } } | undefined;
    const cache = def?.cache;
    if (!cache || cache.scope === 'none') return 'no-store';
    if (cache.scope === 'user') userScoped = true;
    ttlMs = Math.min(ttlMs, cache.ttlMs);
  }
  const maxAge = Math.max(0, Math.floor(ttlMs / 1000));
  return `${userScoped ? 'private' : 'public'}, max-age=${maxAge}`;
}

/** Whether an If-None-Match header names this ETag (weak comparison, `*` matches any). */
export function etagMatches(ifNoneMatch: string | null, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => t.trim() === '*' || bare(t) === bare(etag));
}

/**
 * @example
 * createYoga({ plugins: [useHttpCaching(connector), useResponseCompression()] }) // caching first: the ETag is the JSON's
 */
export function useHttpCaching(connector: Pick<Connector, 'definitions'>): Plugin {
  return {
    async onResponse({ request, response, setResponse, serverContext, fetchAPI }) {
      if (request.method !== 'GET' || response.status !== 200 || !response.body) return;
      if (!/^application\/(graphql-response\+)?json\b/i.test(response.headers.get('content-type') ?? '')) return;
      const state = (serverContext as { state?: RequestState } | undefined)?.state;
      if (!state) return;
      const text = await response.text();
      const headers = new fetchAPI.Headers(response.headers);
      const cacheControl = cacheControlOf(state, connector);
      const etag = `W/"${createHash('sha256').update(text).digest('base64url').slice(0, 32)}"`;
      headers.set('cache-control', cacheControl);
      headers.set('etag', etag);
      headers.set('vary', [headers.get('vary'), 'Accept', 'Authorization'].filter(Boolean).join(', '));
      if (cacheControl !== 'no-store' && etagMatches(request.headers.get('if-none-match'), etag)) {
        headers.delete('content-type');
        headers.delete('content-length');
        setResponse(new fetchAPI.Response(null, { status: 304, headers }));
        return;
      }
      setResponse(new fetchAPI.Response(text, { status: response.status, statusText: response.statusText, headers }));
    },
  };
}
