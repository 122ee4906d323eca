/**
 * `POST /admin/cache/invalidate`: remove cached upstream values, by upstream, endpoint and keys, or all
 * of an upstream, from the shared store and from every replica's memory layer. Authenticated with the
 * admin token (`Authorization: Bearer <ADMIN_TOKEN>`); without a configured token the route refuses.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MemoryStore, TieredStore, type Connector } from './connector/index.js';
import { isTributaryError } from './errors.js';
import type { Route } from './server.js';

const MAX_BODY = 64 * 1024; // bytes

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time check of `Authorization: Bearer <token>` against the configured admin token. */
export function isAdmin(req: IncomingMessage, adminToken: string | undefined): boolean {
  if (!adminToken) return false;
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return m ? timingSafeEqual(digest(m[1]!.trim()), digest(adminToken)) : false;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new Error('too large');
    chunks.push(c as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/**
 * @example
 * createGatewayServer({ ..., routes: cacheAdminRoutes({ connector, adminToken: process.env.ADMIN_TOKEN }) });
 */
export function cacheAdminRoutes(opts: { connector: Connector; adminToken: string | undefined }): Route[] {
  return [
    {
      method: 'GET',
      path: '/admin/cache/stats',
      handle(req, res, requestId) {
        if (!isAdmin(req, opts.adminToken)) {
          return send(res, 401, { error: { code: 'UNAUTHENTICATED', message: 'An admin token is required (Authorization: Bearer <ADMIN_TOKEN>).', requestId } });
        }
        const store = opts.connector.cacheStore;
        send(res, 200, {
          store: store?.name ?? 'off',
          memoryEntries: store instanceof MemoryStore ? store.size : store instanceof TieredStore ? store.memory.size : 0,
          redisConnected: store instanceof TieredStore ? store.redis.connected : undefined,
          invalidationsReceived: store instanceof TieredStore ? store.invalidationsReceived : undefined,
        });
      },
    },
    {
      method: 'POST',
      path: '/admin/cache/invalidate',
      async handle(req, res, requestId) {
        if (!isAdmin(req, opts.adminToken)) {
          req.resume();
          return send(res, 401, { error: { code: 'UNAUTHENTICATED', message: 'An admin token is required (Authorization: Bearer <ADMIN_TOKEN>).', requestId } });
        }
        let body: { upstream?: unknown; endpoint?: unknown; keys?: unknown };
        try {
          body = (await readJson(req)) as typeof body;
        } catch {
          return send(res, 400, { error: { code: 'BAD_REQUEST', message: 'The body must be JSON of at most 64 KiB.', requestId } });
        }
        const { upstream, endpoint, keys } = body ?? {};
        if (typeof upstream !== 'string' || (endpoint !== undefined && typeof endpoint !== 'string') || (keys !== undefined && !(Array.isArray(keys) && endpoint !== undefined && keys.every((k) => typeof k === 'string' || typeof k === 'number')))) {
          return send(res, 400, {
            error: { code: 'BAD_REQUEST', message: 'Expected { "upstream": string, "endpoint"?: string, "keys"?: (string|number)[] } (keys need an endpoint).', requestId },
          });
        }
        try {
          const removed = await opts.connector.invalidate({ upstream, endpoint: endpoint as string | undefined, keys: keys as unknown[] | undefined });
          send(res, 200, { removed, requestId });
        } catch (e) {
          if (isTributaryError(e)) return send(res, 404, { error: { code: 'NOT_FOUND', message: e.message, requestId } });
          throw e;
        }
      },
    },
  ];
}
