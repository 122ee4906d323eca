/**
 * One sandbox upstream: a node:http server that serves a descriptor's routes (./descriptor.ts) with
 * stats, fault injection, latency, credentials, Idempotency-Key, and the admin routes /__stats,
 * /__faults, /__records and /openapi.json. Nothing here knows any upstream by name.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createPrng, FaultSpecError, validateFaultSpec } from './faults.js';
import { HttpError } from './descriptor.js';
import type { Ctx, Reply, RouteDef, SandboxUpstreamDescriptor, UpstreamBehaviour } from './descriptor.js';
import { IdempotencyStore } from './idempotency.js';
import { openApiDocument } from './openapi.js';
import type { FaultSpec, SandboxCredentials, SandboxOptions, SandboxUpstream, Stats, StatsEntry, UpstreamName, UpstreamRecords } from './types.js';

/** Largest request body accepted (bytes); larger -> 413. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Size of the stats ring buffer. */
export const STATS_CAPACITY = 1000;

const JSON_TYPE = 'application/json; charset=utf-8';

export interface UpstreamConfig {
  descriptor: SandboxUpstreamDescriptor;
  host: string;
  port: number;
  latencyMs: number;
  credentials: SandboxCredentials;
  faults: FaultSpec | null;
  seed: number;
  now: () => number;
  /** What startSandbox was given (upstream-specific options included). */
  options: Readonly<SandboxOptions>;
}

const nowMs = (): number => performance.timeOrigin + performance.now();

interface Compiled {
  route: RouteDef;
  segments: (string | null)[];
}

/** Path parameters decoded with decodeURIComponent; a malformed escape leaves the segment as sent. */
function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

class Router {
  private readonly statics = new Map<string, RouteDef>();
  private readonly dynamic: Compiled[] = [];
  private readonly paths = new Map<string, string[]>();

  constructor(routes: readonly RouteDef[]) {
    for (const r of routes) {
      if (r.pattern.includes(':')) {
        this.dynamic.push({ route: r, segments: r.pattern.split('/').map((s) => (s.startsWith(':') ? null : s)) });
      } else this.statics.set(`${r.method} ${r.pattern}`, r);
    }
  }

  /** The route for method + raw pathname and its decoded params; `allowed` lists methods that would match the path. */
  match(method: string, pathname: string): { route: RouteDef; params: string[] } | { allowed: string[] } {
    const allowed: string[] = [];
    const st = this.statics.get(`${method} ${pathname}`);
    if (st) return { route: st, params: [] };
    for (const r of this.statics.values()) if (r.pattern === pathname) allowed.push(r.method);
    const segs = pathname.split('/');
    for (const c of this.dynamic) {
      if (c.segments.length !== segs.length) continue;
      const params: string[] = [];
      let okay = true;
      for (let i = 0; i < segs.length; i++) {
        const want = c.segments[i];
        const got = segs[i]!;
        if (want === null) {
          if (got === '') {
            okay = false;
            break;
          }
          params.push(decodeSegment(got));
        } else if (want !== got) {
          okay = false;
          break;
        }
      }
      if (!okay) continue;
      if (c.route.method === method) return { route: c.route, params };
      allowed.push(c.route.method);
    }
    // A static route shadows a dynamic one of the same shape (/products/search vs /products/:id),
    // whatever the method.
    return { allowed };
  }
}

export class UpstreamServer implements SandboxUpstream {
  readonly name: UpstreamName;
  private readonly host: string;
  private _port: number;
  private latency: number;
  private spec: FaultSpec | null;
  private readonly descriptor: SandboxUpstreamDescriptor;
  private readonly def: UpstreamBehaviour;
  private readonly router: Router;
  private readonly routeKeys: string[];
  private credentials: SandboxCredentials;
  private readonly idempotency: IdempotencyStore;
  private readonly random: () => number;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private listening = false;
  private openapiCache: string | undefined;
  // stats
  private counts = new Map<string, number>();
  private total = 0;
  private ring: StatsEntry[] = [];
  private ringHead = 0;
  /** Told of every recorded request; kept across resetStats(). */
  private readonly listeners = new Set<(entry: Readonly<StatsEntry>) => void>();

  constructor(cfg: UpstreamConfig) {
    this.descriptor = cfg.descriptor;
    this.name = cfg.descriptor.name;
    this.host = cfg.host;
    this._port = cfg.port;
    this.latency = cfg.latencyMs;
    this.credentials = { ...cfg.credentials };
    this.def = cfg.descriptor.create({ credentials: () => this.credentials, now: cfg.now, options: cfg.options });
    this.router = new Router(this.def.routes);
    this.routeKeys = this.def.routes.map((r) => r.key);
    this.spec = cfg.faults ? validateFaultSpec(cfg.faults, this.routeKeys) : null;
    this.idempotency = new IdempotencyStore(cfg.now);
    this.random = createPrng(cfg.seed);
    this.server = createServer({ keepAlive: true }, (req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = 65_000;
    this.server.headersTimeout = 66_000;
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (socket.writable && err.code !== 'ECONNRESET') {
        const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
        const body = '{"message":"bad request"}';
        socket.end(`HTTP/1.1 ${status}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      } else socket.destroy();
    });
    this.server.on('error', () => {
      /* listen errors are reported by start() */
    });
  }

  get port(): number {
    return this._port;
  }

  get url(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${h}:${this._port}`;
  }

  /** Business route keys of this upstream (valid values of FaultSpec.routes). */
  get routes(): readonly string[] {
    return this.routeKeys;
  }

  // -------------------------------------------------------------------------------------------
  // Public control API
  // -------------------------------------------------------------------------------------------

  stats(): Stats {
    const n = this.ring.length;
    const requests: StatsEntry[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const e = this.ring[(this.ringHead + i) % n]!;
      requests[i] = { ...e, headers: { ...e.headers } };
    }
    return { counts: Object.fromEntries(this.counts), total: this.total, requests };
  }

  resetStats(): void {
    this.counts = new Map();
    this.total = 0;
    this.ring = [];
    this.ringHead = 0;
  }

  onRecord(listener: (entry: Readonly<StatsEntry>) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  setLatency(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('latency must be a non-negative number of ms');
    this.latency = ms;
  }

  setFaults(f: FaultSpec | null): void {
    this.spec = f === null ? null : validateFaultSpec(f, this.routeKeys);
  }

  faults(): FaultSpec | null {
    return this.spec === null ? null : structuredClone(this.spec);
  }

  setCredentials(c: Partial<SandboxCredentials>): void {
    const prev = this.credentials;
    const next = { ...prev };
    for (const [k, v] of Object.entries(c)) {
      if (v !== undefined) {
        if (typeof v !== 'string' || v === '') throw new TypeError(`credential ${k} must be a non-empty string`);
        next[k] = v;
      }
    }
    this.credentials = next;
    this.def.credentialsChanged?.(prev, next);
  }

  records(): UpstreamRecords {
    // A copy: what a caller does with it never touches the upstream's state.
    return structuredClone({ ...this.def.records?.(), idempotencyKeys: this.idempotency.records() });
  }

  start(): Promise<void> {
    if (this.listening) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        this.server.off('listening', onListening);
        reject(err);
      };
      const onListening = (): void => {
        this.server.off('error', onError);
        const addr = this.server.address();
        if (addr && typeof addr === 'object') this._port = addr.port;
        this.listening = true;
        resolve();
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen(this._port, this.host);
    });
  }

  stop(): Promise<void> {
    if (!this.listening) return Promise.resolve();
    this.listening = false;
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
    });
  }

  // -------------------------------------------------------------------------------------------
  // Request handling
  // -------------------------------------------------------------------------------------------

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private record(req: IncomingMessage, res: ServerResponse, route: string): StatsEntry {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const entry: StatsEntry = { method: req.method ?? '', path: req.url ?? '', route, start: nowMs(), end: 0, status: 0, headers };
    this.counts.set(route, (this.counts.get(route) ?? 0) + 1);
    this.total++;
    if (this.ring.length < STATS_CAPACITY) this.ring.push(entry);
    else {
      this.ring[this.ringHead] = entry;
      this.ringHead = (this.ringHead + 1) % STATS_CAPACITY;
    }
    for (const listener of this.listeners) listener(entry);
    const done = (): void => {
      if (entry.end !== 0) return;
      entry.end = nowMs();
      entry.status = res.headersSent ? res.statusCode : 0;
    };
    res.once('finish', done);
    res.once('close', done);
    return entry;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    req.on('error', () => {});
    res.on('error', () => {});
    try {
      const rawUrl = req.url ?? '/';
      const method = req.method ?? 'GET';
      const qi = rawUrl.indexOf('?');
      let pathname = qi >= 0 ? rawUrl.slice(0, qi) : rawUrl;
      const search = qi >= 0 ? rawUrl.slice(qi + 1) : '';
      if (pathname.length > 1 && pathname.endsWith('/')) pathname = pathname.slice(0, -1);

      if (pathname === '/__stats' || pathname === '/__faults' || pathname === '/__records' || pathname === '/openapi.json') {
        this.admin(req, res, method, pathname);
        return;
      }

      const m = this.router.match(method, pathname);
      const routeKey = 'route' in m ? m.route.key : `${method} *`;
      const entry = this.record(req, res, routeKey);
      const spec = this.spec;
      const f = spec && (!spec.routes || spec.routes.includes(routeKey)) ? spec : null;
      if (f?.times !== undefined && --f.times <= 0 && this.spec === f) this.spec = null; // its last request
      if (f?.down) {
        req.socket.destroy();
        return;
      }
      this.readBody(req, res, (body) => {
        let delay = this.latency + (f?.latencyMs ?? 0);
        if (f?.spike && this.random() < f.spike.probability) {
          delay += f.spike.ms;
          entry.spikeMs = f.spike.ms;
        }
        const go = (): void => {
          if (res.destroyed || res.writableEnded) return;
          try {
            this.respond(req, res, m, f, pathname, search, body);
          } catch {
            this.send(res, 500, '{"message":"internal error"}');
          }
        };
        if (delay > 0) this.later(delay, go);
        else go();
      });
    } catch {
      if (!res.headersSent) this.send(res, 500, '{"message":"internal error"}');
    }
  }

  private respond(
    req: IncomingMessage,
    res: ServerResponse,
    m: ReturnType<Router['match']>,
    f: FaultSpec | null,
    pathname: string,
    search: string,
    body: Buffer,
  ): void {
    if (f) {
      if (f.reset && this.random() < f.reset.probability) {
        req.socket.destroy();
        return;
      }
      if (f.hang && this.random() < f.hang.probability) return; // never answer
      if (f.error && this.random() < f.error.probability) {
        const headers: Record<string, string> = {};
        if (f.error.retryAfterS !== undefined) headers['retry-after'] = String(f.error.retryAfterS);
        this.send(res, f.error.status, '{"message":"injected fault"}', headers);
        return;
      }
      if (f.redirect !== undefined) {
        this.send(res, 302, '{"message":"moved"}', { location: f.redirect + (req.url ?? '/') });
        return;
      }
    }
    if (!('route' in m)) {
      if (m.allowed.length > 0) {
        this.send(res, 405, JSON.stringify({ message: `method ${req.method} not allowed` }), { allow: [...new Set(m.allowed)].join(', ') });
      } else this.send(res, 404, '{"message":"not found"}');
      return;
    }
    const ctx: Ctx = {
      method: req.method ?? 'GET',
      query: new URLSearchParams(search),
      params: m.params,
      headers: req.headers,
      body,
      origin: this.url,
    };
    if (m.route.auth && !this.def.authorize(ctx)) {
      this.send(res, 401, '{"message":"unauthorized"}', this.descriptor.challenge ? { 'www-authenticate': this.descriptor.challenge } : undefined);
      return;
    }
    const route = m.route;
    const run = (): Reply => {
      try {
        return route.handle(ctx);
      } catch (err) {
        if (err instanceof HttpError) return { status: err.status, body: { message: err.message } };
        throw err;
      }
    };
    const key = route.idempotent ? req.headers['idempotency-key'] : undefined;
    const reply = typeof key === 'string' ? this.idempotency.handle(key, route.key, `${ctx.method} ${pathname}?${search}`, body, run) : run();
    let text: string;
    if (reply.status === 200 && f?.drift && m.route.drift) {
      const obj = reply.body !== undefined ? reply.body : JSON.parse(reply.json!);
      text = JSON.stringify(m.route.drift(obj, f.drift));
    } else text = reply.json ?? (reply.body === undefined ? '' : JSON.stringify(reply.body));
    if (reply.status === 200 && f?.malformed && this.random() < f.malformed.probability) {
      text = text.slice(0, Math.max(1, Math.floor(text.length / 2)));
    }
    const lost = f?.afterEffect && this.random() < f.afterEffect.probability ? f.afterEffect : undefined;
    if (lost) {
      // The work is done (and kept for its Idempotency-Key); only the answer goes missing.
      if (lost.outcome === 'reset') req.socket.destroy();
      else if (lost.outcome === 'error') this.send(res, lost.status ?? 500, '{"message":"injected fault"}');
      else if (lost.outcome === 'delay') this.later(lost.delayMs ?? 0, () => this.send(res, reply.status, text, reply.headers));
      return; // 'hang': never answer
    }
    if (f?.trickle) this.trickle(res, reply.status, text, reply.headers, f.trickle);
    else this.send(res, reply.status, text, reply.headers);
  }

  private send(res: ServerResponse, status: number, text: string, headers?: Record<string, string>): void {
    if (res.headersSent || res.destroyed) return;
    if (status === 204) {
      res.writeHead(204, headers);
      res.end();
      return;
    }
    const buf = Buffer.from(text, 'utf8');
    res.writeHead(status, { ...headers, 'content-type': JSON_TYPE, 'content-length': buf.length });
    res.end(buf);
  }

  private trickle(
    res: ServerResponse,
    status: number,
    text: string,
    headers: Record<string, string> | undefined,
    t: { bytesPerChunk: number; intervalMs: number },
  ): void {
    const buf = Buffer.from(text, 'utf8');
    res.writeHead(status, { ...headers, 'content-type': JSON_TYPE, 'content-length': buf.length });
    let off = 0;
    const step = (): void => {
      if (res.destroyed) return;
      const end = Math.min(buf.length, off + t.bytesPerChunk);
      const chunk = buf.subarray(off, end);
      off = end;
      if (off >= buf.length) res.end(chunk);
      else {
        res.write(chunk);
        this.later(t.intervalMs, step);
      }
    };
    step();
  }

  /** Reads the body (at most MAX_BODY_BYTES, else 413 and the connection is closed). */
  private readBody(req: IncomingMessage, res: ServerResponse, cb: (body: Buffer) => void): void {
    const tooLarge = (): void => {
      res.shouldKeepAlive = false;
      this.send(res, 413, JSON.stringify({ message: `request body larger than ${MAX_BODY_BYTES} bytes` }), { connection: 'close' });
      req.resume();
    };
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        over = true;
        chunks.length = 0;
        tooLarge();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!over) cb(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
  }

  // -------------------------------------------------------------------------------------------
  // Admin routes (never recorded in stats, never subject to faults, latency or credentials)
  // -------------------------------------------------------------------------------------------

  private admin(req: IncomingMessage, res: ServerResponse, method: string, pathname: string): void {
    if (pathname === '/__stats') {
      if (method === 'GET') this.send(res, 200, JSON.stringify(this.stats()));
      else if (method === 'DELETE') {
        this.resetStats();
        res.writeHead(204);
        res.end();
      } else this.send(res, 405, '{"message":"use GET or DELETE"}', { allow: 'GET, DELETE' });
      req.resume();
      return;
    }
    if (pathname === '/openapi.json') {
      if (method !== 'GET') this.send(res, 405, '{"message":"use GET"}', { allow: 'GET' });
      else this.send(res, 200, (this.openapiCache ??= JSON.stringify(openApiDocument(this.descriptor, this.url))));
      req.resume();
      return;
    }
    if (pathname === '/__records') {
      if (method !== 'GET') this.send(res, 405, '{"message":"use GET"}', { allow: 'GET' });
      else this.send(res, 200, JSON.stringify(this.records()));
      req.resume();
      return;
    }
    // /__faults
    if (method === 'GET') {
      req.resume();
      this.send(res, 200, JSON.stringify(this.spec));
    } else if (method === 'DELETE') {
      req.resume();
      this.spec = null;
      res.writeHead(204);
      res.end();
    } else if (method === 'POST' || method === 'PUT') {
      this.readBody(req, res, (body) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          this.send(res, 400, '{"message":"fault spec is not valid JSON"}');
          return;
        }
        try {
          this.spec = validateFaultSpec(parsed, this.routeKeys);
          this.send(res, 200, JSON.stringify(this.spec));
        } catch (err) {
          if (err instanceof FaultSpecError) this.send(res, 400, JSON.stringify({ message: err.message }));
          else throw err;
        }
      });
    } else {
      req.resume();
      this.send(res, 405, '{"message":"use GET, POST or DELETE"}', { allow: 'GET, POST, DELETE' });
    }
  }
}
