/**
 * Response compression: `Accept-Encoding` honoured (br, then gzip, by the client's q-values) for
 * answers of at least `minBytes`. Brotli at quality 4 and gzip at level 6 suit bodies made per request
 * (brotli's default, 11, is meant for files compressed once). Streams (multipart, event-stream) are
 * never compressed here; a 304 or an empty body neither. Off with `COMPRESSION=off`, for a proxy that compresses.
 */
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import type { Plugin } from 'graphql-yoga';

export type Encoding = 'br' | 'gzip';

export interface CompressionSettings {
  readonly enabled: boolean;
  /** Smaller answers are sent as they are: compressing them costs more than it saves. */
  readonly minBytes: number;
}

/** What a request asked for, decided once: the encoding to use when its answer is large enough. */
export interface ResponseEncoding {
  readonly encoding: Encoding | undefined;
  readonly minBytes: number;
}

/**
 * The encoding an `Accept-Encoding` header prefers among br and gzip (highest q first; br on a tie;
 * `*` stands for both; `q=0` refuses), or undefined for identity.
 */
export function chooseEncoding(header: string | undefined): Encoding | undefined {
  if (!header) return undefined;
  const q: Record<string, number> = {};
  for (const part of header.toLowerCase().split(',')) {
    const [name, ...params] = part.trim().split(';');
    if (!name) continue;
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const value = qp === undefined ? 1 : Number(qp.slice(2));
    q[name.trim()] = Number.isFinite(value) ? value : 0;
  }
  const of = (e: Encoding) => q[e] ?? q['*'] ?? 0;
  const br = of('br');
  const gzip = of('gzip');
  if (br <= 0 && gzip <= 0) return undefined;
  return br >= gzip ? 'br' : 'gzip';
}

/** The request's encoding, or undefined when compression is off. */
export function responseEncoding(settings: CompressionSettings, acceptEncoding: string | undefined): ResponseEncoding | undefined {
  return settings.enabled ? { encoding: chooseEncoding(acceptEncoding), minBytes: settings.minBytes } : undefined;
}

/** The body as sent and the headers to add (`content-encoding`, `vary`), for an answer of this size. */
export function encodeBody(body: Buffer, how: ResponseEncoding | undefined): { body: Buffer; headers: Record<string, string> } {
  if (!how) return { body, headers: {} };
  // Any answer that could have been compressed varies with Accept-Encoding, for caches.
  const vary = { vary: 'Accept-Encoding' };
  if (!how.encoding || body.length < how.minBytes) return { body, headers: body.length < how.minBytes ? {} : vary };
  const encoded =
    how.encoding === 'br'
      ? brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 4, [constants.BROTLI_PARAM_SIZE_HINT]: body.length, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } })
      : gzipSync(body, { level: 6 });
  return { body: encoded, headers: { ...vary, 'content-encoding': how.encoding } };
}

/**
 * The same for the answers yoga's own handler sends (GET requests, batches): a JSON body, whole, is
 * encoded as the request asked. The fast path encodes in `writeJsonResult`.
 */
export function useResponseCompression(): Plugin {
  return {
    async onResponse({ response, setResponse, serverContext, fetchAPI }) {
      const how = (serverContext as { state?: { encoding?: ResponseEncoding } } | undefined)?.state?.encoding;
      if (!how || !response.body || response.headers.has('content-encoding')) return;
      if (!/^application\/(graphql-response\+)?json\b/i.test(response.headers.get('content-type') ?? '')) return;
      const { body, headers } = encodeBody(Buffer.from(await response.arrayBuffer()), how);
      const out = new fetchAPI.Headers(response.headers);
      for (const [k, v] of Object.entries(headers)) out.set(k, k === 'vary' && out.get('vary') ? `${out.get('vary')}, ${v}` : v);
      out.set('content-length', String(body.length));
      setResponse(new fetchAPI.Response(new Uint8Array(body), { status: response.status, statusText: response.statusText, headers: out }));
    },
  };
}
