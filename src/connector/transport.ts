/**
 * One upstream's HTTP transport: an undici Pool bound to the upstream's origin (keep-alive, no
 * redirects followed), request paths built from templates with every parameter one encoded segment,
 * and response bodies read under a size limit.
 */
import { Pool, type Dispatcher } from 'undici';
import { ConfigurationError } from '../errors.js';
import type { Cancel } from './cancel.js';
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

/** The response's body is larger than the upstream's `maxResponseBytes` (declared or as read). */
export class ResponseTooLargeError extends Error {
  constructor(
    readonly limit: number,
    /** The HTTP status the upstream answered with. */
    readonly status: number,
    /** Bytes of the body read before stopping (0 when the declared Content-Length was enough). */
    readonly received: number,
  ) {
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

/** The request was aborted by its caller (timeout, hedge lost, client gone). */
export class RequestAbortedError extends Error {
  constructor() {
    super('request aborted');
    this.name = 'RequestAbortedError';
  }
}

const UNSAFE = /[\r\n\0]/;

/**
 * Collects one response into a Buffer under a size limit (the declared Content-Length is checked
 * first), and settles its promise exactly once: on the end of the body, an error, or the caller's abort.
 */
class BodyCollector implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private pendingAbort: Error | undefined;
  private status = 0;
  private headers: Record<string, string | string[] | undefined> = {};
  private chunks: Buffer[] = [];
  private size = 0;
  private settled = false;
  private readonly onAbort: () => void;

  constructor(
    private readonly max: number,
    private readonly cancel: Cancel,
    private readonly resolve: (r: TransportResponse) => void,
    private readonly reject: (e: Error) => void,
  ) {
    this.onAbort = () => this.fail(new RequestAbortedError());
    cancel.on(this.onAbort);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.pendingAbort) controller.abort(this.pendingAbort);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.status = statusCode;
    this.headers = headers;
    this.chunks = [];
    this.size = 0;
    if (Number(headers['content-length']) > this.max) this.fail(new ResponseTooLargeError(this.max, statusCode, 0));
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    this.size += chunk.length;
    if (this.size > this.max) this.fail(new ResponseTooLargeError(this.max, this.status, this.size - chunk.length));
    else this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (this.settled) return;
    this.settled = true;
    this.cancel.off(this.onAbort);
    const c = this.chunks;
    this.resolve({ status: this.status, headers: this.headers, body: c.length === 1 ? c[0]! : Buffer.concat(c, this.size) });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }

  /** Settle with an error (once) and stop the request, now or as soon as it starts. */
  private fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.cancel.off(this.onAbort);
    this.reject(error);
    if (this.controller) {
      if (!this.controller.aborted) this.controller.abort(error);
    } else {
      this.pendingAbort = error;
    }
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
      // Timeouts are enforced by the engine's per-attempt cancellation token; these are only backstops.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  path(spec: RequestSpec): string {
    return buildPath(this.basePath, spec);
  }

  /**
   * Send one request. Redirects are never followed (undici's Pool does not), so a credential can
   * never be carried to another origin. The body is collected by a dispatch handler (no stream per
   * call); an abort of `cancel` ends the request at once, queued or in flight.
   */
  send(
    method: HttpMethod,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    cancel: Cancel,
  ): Promise<TransportResponse> {
    // A CR, LF or NUL in a header value or the path would split the request: refuse before sending.
    if (UNSAFE.test(path)) return Promise.reject(new UnsafeRequestError('path'));
    for (const k in headers) {
      if (UNSAFE.test(headers[k]!)) return Promise.reject(new UnsafeRequestError(`header ${k}`));
    }
    if (cancel.aborted) return Promise.reject(new RequestAbortedError());
    return new Promise((resolve, reject) => {
      this.pool.dispatch({ method, path, headers, body }, new BodyCollector(this.maxResponseBytes, cancel, resolve, reject));
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
