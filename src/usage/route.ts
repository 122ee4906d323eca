/**
 * `GET /admin/usage?days=N`: the field usage export (every replica's with Redis) for an admin client
 * (`Authorization: Bearer <ADMIN_TOKEN>`); without a configured admin token the route refuses. Save
 * it to a file (`curl … > usage.json`) for `npm run schema:check -- --usage usage.json`, or give
 * schema:check the URL.
 */
import type { ServerResponse } from 'node:http';
import { isAdmin } from '../cache-admin.js';
import type { Route } from '../server.js';
import type { UsageRecorder } from './recorder.js';

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), 'cache-control': 'no-store' });
  res.end(payload);
}

export function usageRoutes(opts: { recorder: UsageRecorder; adminToken: string | undefined }): Route[] {
  return [
    {
      method: 'GET',
      path: '/admin/usage',
      async handle(req, res, requestId) {
        if (!isAdmin(req, opts.adminToken)) {
          return send(res, 401, { error: { code: 'UNAUTHENTICATED', message: 'An admin token is required (Authorization: Bearer <ADMIN_TOKEN>).', requestId } });
        }
        const raw = new URL(req.url ?? '/', 'http://x').searchParams.get('days');
        const days = raw === null || raw === '' ? undefined : Number(raw);
        if (days !== undefined && !(Number.isFinite(days) && days > 0)) {
          return send(res, 400, { error: { code: 'BAD_REQUEST', message: `days must be a number > 0, but is ${JSON.stringify(raw)}.`, requestId } });
        }
        try {
          send(res, 200, await opts.recorder.export(days));
        } catch {
          send(res, 503, { error: { code: 'USAGE_UNAVAILABLE', message: 'Field usage could not be read (Redis unavailable); try again.', requestId } });
        }
      },
    },
  ];
}
