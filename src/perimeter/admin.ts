/**
 * `GET /admin/perimeter`: the perimeter map for an admin client (`Authorization: Bearer <ADMIN_TOKEN>`),
 * as JSON, or Markdown with `?format=markdown`. Derived once on first use (it runs the probe), then
 * served from memory; without a configured admin token the route refuses.
 */
import type { ServerResponse } from 'node:http';
import { isAdmin } from '../cache-admin.js';
import type { Route } from '../server.js';
import type { PerimeterMap } from './derive.js';
import { perimeterMarkdown } from './render.js';

function send(res: ServerResponse, status: number, body: string, type: string): void {
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8`, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

export function perimeterRoutes(opts: { adminToken: string | undefined; derive: () => Promise<PerimeterMap> }): Route[] {
  let pending: Promise<PerimeterMap> | undefined;
  return [
    {
      method: 'GET',
      path: '/admin/perimeter',
      async handle(req, res, requestId) {
        if (!isAdmin(req, opts.adminToken)) {
          return send(res, 401, JSON.stringify({ error: { code: 'UNAUTHENTICATED', message: 'An admin token is required (Authorization: Bearer <ADMIN_TOKEN>).', requestId } }), 'application/json');
        }
        let map: PerimeterMap;
        try {
          pending ??= opts.derive();
          map = await pending;
        } catch {
          pending = undefined;
          return send(res, 503, JSON.stringify({ error: { code: 'PERIMETER_UNAVAILABLE', message: 'The perimeter map could not be derived; try again.', requestId } }), 'application/json');
        }
        const format = new URL(req.url ?? '/', 'http://x').searchParams.get('format');
        if (format === 'markdown') return send(res, 200, perimeterMarkdown(map), 'text/markdown');
        return send(res, 200, JSON.stringify(map), 'application/json');
      },
    },
  ];
}
