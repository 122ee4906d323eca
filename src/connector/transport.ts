/**
 * One upstream's HTTP transport: an undici Pool bound to the upstream's origin (keep-alive, no
 * redirects followed), request paths built from templates with every parameter one encoded segment,
 * and response bodies read under a size limit.
 */
import { Pool } from 'undici';
import { ConfigurationError } from '../errors.js';
import type { HttpMethod, RequestSpec } from './types.js';

/** Encode a value as exactly one path segment. `.` and `..` are encoded too, so no URL normaliser can climb. */
export function encodeSegment(value: string | number): string {
  const s = String(value);
  if (s === '.' || s === '..') return s.replace(/\./g, '%2E');
  return encodeURIComponent(s);
}

/** `/products/:id` + `{id: '../users/1'}` → `/products/..%2Fusers%2F1`. Missing params are a definition bug. */
export function buildPath(basePath: string, spec: RequestSpec): string {
  let path = spec.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    const v = spec.params?.[name];
    if (v === undefined) throw new ConfigurationError(`Request path ${spec.path} needs the parameter "${name}".`);
    return encodeSegment(v);
  });
  if (spec.query) {
    let qs = '';
    for (const k in spec.query) {
      const v = spec.query[k];
      if (v === undefined) continue;
      qs += `${qs ? '&' : '?'}${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`;
    }
    path += qs;
  }
  return basePath + path;
}

export interface TransportResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

export class ResponseTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`response larger than ${limit} bytes`);
    this.name = 'ResponseTooLargeError';
  }
}

/** A request that would be unsafe to send (a line break in a header value or the path). Never shows the value. */
export class UnsafeRequestError extends Error {
  constructor(readonly where: string) {
    super(`refused to send a request with a line break or NUL in its ${where}`);
    this.name = 'UnsafeRequestError';
  }
}

export interface TransportOptions {
  readonly baseUrl: string;
  readonly connections: number;
  readonly maxResponseBytes: number;
}

export class Transport {
  readonly origin: string;
  private readonly basePath: string;
  private readonly pool: Pool;
  private readonly maxResponseBytes: number;

  constructor(opts: TransportOptions) {
    let url: URL;
    try {
      url = new URL(opts.baseUrl);
    } catch {
      throw new ConfigurationError(`Base URL ${JSON.stringify(opts.baseUrl)} is not a URL.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigurationError(`Base URL must be http or https, got ${url.protocol}`);
    if (url.username || url.password) throw new ConfigurationError('Base URLs must not carry credentials; use the upstream\'s auth definition.');
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.maxResponseBytes = opts.maxResponseBytes;
    this.pool = new Pool(this.origin, {
      connections: opts.connections,
      keepAliveTimeout: 30_000, // ms an idle socket is kept
      keepAliveMaxTimeout: 60_000,
      // Timeouts are enforced by the engine's per-attempt AbortSignal; these are only backstops.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  path(spec: RequestSpec): string {
    return buildPath(this.basePath, spec);
  }

  /**
   * Send one request. Redirects are never followed (undici's Pool does not), so a credential can
   * never be carried to another origin.
   */
  async send(
    method: HttpMethod,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal,
  ): Promise<TransportResponse> {
    // A CR, LF or NUL in a header value or the path would split the request: refuse before sending.
    if (/[\r\n\0]/.test(path)) throw new UnsafeRequestError('path');
    for (const k in headers) {
      if (/[\r\n\0]/.test(headers[k]!)) throw new UnsafeRequestError(`header ${k}`);
    }
    const res = await this.pool.request({ method, path, headers, body, signal });
    // A body destroyed below (too large) must not surface as an unhandled stream error; reads still fail.
    res.body.on('error', () => {});
    const declared = Number(res.headers['content-length']);
    if (declared > this.maxResponseBytes) {
      res.body.destroy();
      throw new ResponseTooLargeError(this.maxResponseBytes);
    }
    // Read with 'data' events rather than an async iterator: the same limit, less per-call machinery.
    const max = this.maxResponseBytes;
    const stream = res.body;
    const chunks: Buffer[] = [];
    let size = 0;
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          stream.destroy();
          reject(new ResponseTooLargeError(max));
          return;
        }
        chunks.push(chunk);
      });
      stream.once('end', resolve);
      stream.once('error', reject);
      stream.once('close', () => reject(new Error('response body closed before its end')));
    });
    return {
      status: res.statusCode,
      headers: res.headers,
      body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size),
    };
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
