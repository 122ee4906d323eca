/**
 * `GET /admin/workflows`: the workflow instances of the log, by view (in flight, stuck, compensated,
 * completed, all), and `GET /admin/workflows/<id>`: one instance with its steps. Authenticated with the
 * admin token (`Authorization: Bearer <ADMIN_TOKEN>`); without a configured token the routes refuse.
 *
 * What is shown is what an operator needs to find and follow a write: status, attempts, lease, the last
 * error, the outcome's code and the compensations that ran. Never an input (it may hold a payment
 * token), a step's output, or a key: a client's idempotency key and each call's key appear as short
 * hashes, the ones traces show, so an entry can be matched with a trace or an upstream's log.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isAdmin } from './cache-admin.js';
import type { Route } from './server.js';
import { keyHash, stepKey, type InstanceRow, type ListView, type StepRow, type WorkflowRunner } from './workflow/index.js';

const VIEWS: readonly ListView[] = ['in-flight', 'stuck', 'compensated', 'completed', 'all'];
const MAX_LIMIT = 500;
const DEFAULT_LIMIT = 100;
/** Instance ids are UUIDs; anything longer is refused before it reaches the log. */
const MAX_ID_LENGTH = 100;

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload), 'cache-control': 'no-store' });
  res.end(payload);
}

const refuse = (res: ServerResponse, status: number, code: string, message: string, requestId: string) => send(res, status, { error: { code, message, requestId } });

const iso = (ms: number) => new Date(ms).toISOString();

/** An error as stored in the log, reduced to what identifies it (an upstream's message may echo input). */
function errorSummary(error: unknown): Record<string, unknown> | null {
  if (error === null || error === undefined) return null;
  if (typeof error !== 'object') return { message: String(error).slice(0, 200) };
  const e = error as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ['code', 'status', 'name'] as const) if (typeof e[k] === 'string' || typeof e[k] === 'number') out[k] = e[k];
  return out;
}

function instanceView(row: InstanceRow, now: number) {
  const o = row.outcome as Record<string, unknown> | null;
  const active = row.status === 'running' || row.status === 'compensating';
  return {
    id: row.id,
    workflow: row.workflow,
    status: row.status,
    userId: row.userId || null,
    clientKeyHash: row.clientKey === null ? null : keyHash(row.clientKey),
    attempts: row.attempts,
    owner: row.owner,
    leaseUntil: iso(row.leaseUntil),
    stuck: active && row.leaseUntil <= now,
    lastError: row.lastError === null ? null : row.lastError.slice(0, 300),
    outcome: o && {
      status: o.status,
      ...(typeof o.code === 'string' ? { code: o.code } : {}),
      ...(typeof o.step === 'string' ? { step: o.step } : {}),
      ...(typeof o.upstream === 'string' ? { upstream: o.upstream, endpoint: o.endpoint } : {}),
      ...(Array.isArray(o.compensated) ? { compensated: o.compensated } : {}),
    },
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

function stepView(id: string, s: StepRow) {
  return {
    step: s.step,
    kind: s.kind,
    state: s.state,
    attempts: s.attempts,
    idempotencyKeyHash: keyHash(stepKey(id, s.step, s.kind)),
    error: errorSummary(s.error),
    updatedAt: iso(s.updatedAt),
  };
}

function authorized(req: IncomingMessage, res: ServerResponse, requestId: string, adminToken: string | undefined): boolean {
  if (isAdmin(req, adminToken)) return true;
  refuse(res, 401, 'UNAUTHENTICATED', 'An admin token is required (Authorization: Bearer <ADMIN_TOKEN>).', requestId);
  return false;
}

/**
 * @example
 * createGatewayServer({ ..., routes: workflowAdminRoutes({ runner: workflows.runner, adminToken: process.env.ADMIN_TOKEN }) });
 * // curl -H "authorization: Bearer $ADMIN_TOKEN" 'localhost:4000/admin/workflows?view=stuck'
 */
export function workflowAdminRoutes(opts: { runner: WorkflowRunner; adminToken: string | undefined; now?: () => number }): Route[] {
  const now = opts.now ?? Date.now;
  return [
    {
      method: 'GET',
      path: '/admin/workflows',
      async handle(req, res, requestId) {
        if (!authorized(req, res, requestId, opts.adminToken)) return;
        const q = new URL(req.url ?? '/', 'http://x').searchParams;
        const view = (q.get('view') ?? 'in-flight') as ListView;
        if (!VIEWS.includes(view)) return refuse(res, 400, 'BAD_REQUEST', `view must be one of ${VIEWS.join(', ')}.`, requestId);
        const limitRaw = q.get('limit');
        const limit = limitRaw === null ? DEFAULT_LIMIT : Number(limitRaw);
        if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) return refuse(res, 400, 'BAD_REQUEST', `limit must be an integer from 1 to ${MAX_LIMIT}.`, requestId);
        const workflow = q.get('workflow') ?? undefined;
        if (workflow !== undefined && workflow.length > MAX_ID_LENGTH) return refuse(res, 400, 'BAD_REQUEST', 'workflow is too long.', requestId);
        try {
          const rows = await opts.runner.list(view, { limit, ...(workflow ? { workflow } : {}) });
          const at = now();
          send(res, 200, { view, count: rows.length, workflows: rows.map((r) => instanceView(r, at)) });
        } catch {
          refuse(res, 503, 'WORKFLOW_LOG_UNAVAILABLE', 'The workflow log could not be read.', requestId);
        }
      },
    },
    {
      method: 'GET',
      path: '/admin/workflows/',
      async handle(req, res, requestId) {
        if (!authorized(req, res, requestId, opts.adminToken)) return;
        const path = (req.url ?? '/').split('?', 1)[0]!;
        let id: string;
        try {
          id = decodeURIComponent(path.slice('/admin/workflows/'.length));
        } catch {
          return refuse(res, 400, 'BAD_REQUEST', 'The workflow id is not a valid path segment.', requestId);
        }
        if (id === '' || id.length > MAX_ID_LENGTH || id.includes('/')) return refuse(res, 400, 'BAD_REQUEST', 'A workflow id (GET /admin/workflows/<id>) is required.', requestId);
        try {
          const found = await opts.runner.inspect(id);
          if (!found) return refuse(res, 404, 'NOT_FOUND', 'No workflow instance has this id.', requestId);
          send(res, 200, { ...instanceView(found.instance, now()), steps: found.steps.map((s) => stepView(id, s)) });
        } catch {
          refuse(res, 503, 'WORKFLOW_LOG_UNAVAILABLE', 'The workflow log could not be read.', requestId);
        }
      },
    },
  ];
}
