/**
 * Client idempotency across replicas, end to end: two real gateway processes over one sandbox, sharing
 * the workflow log on PostgreSQL, or each with its own embedded log and client keys claimed in Redis.
 * The same key and input sent to both at once places one order (one reservation, one charge) and every
 * answer names it; another input under that key is IDEMPOTENCY_KEY_REUSED on either replica; another
 * user's identical key is that user's own checkout.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS } from '../src/config.js';
import { signUserToken } from '../src/identity.js';
import { dropPostgresWorkflowTables } from '../src/workflow/index.js';
import { sandboxUpstreamNames, startSandbox, type Sandbox } from '../sandbox/index.js';
import { sandboxEnv, startGatewayProcess, type GatewayProcess } from './support/gateway-process.js';
import { OPERATIONS, post } from './support/stack.js';
import { DATABASE_URL } from './support/workflow-stores.js';

let sandbox: Sandbox;
let user1: Record<string, string>;
let user2: Record<string, string>;

beforeAll(async () => {
  sandbox = await startSandbox({ portBase: 0, seed: 11, latencyMs: Object.fromEntries(sandboxUpstreamNames().map((n) => [n, 5])) });
  user1 = { authorization: `Bearer ${await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '1')}` };
  user2 = { authorization: `Bearer ${await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '2')}` };
});
afterAll(() => sandbox?.close());

const writes = () => ['inventory', 'payments', 'orders'].map((u) => sandbox.upstream(u).records() as unknown as Record<string, { idempotencyKey?: string | null }[]>);

function countsFor(orderIds: ReadonlySet<string>) {
  const [inventory, payments, orders] = writes();
  const placed = (orders!.orders as unknown as { id: string; chargeId: string; reservationId: string }[]).filter((o) => orderIds.has(o.id));
  return { placed, charges: payments!.charges!.length, reservations: inventory!.reservations!.length, orders: orders!.orders!.length };
}

async function twoReplicas(env: Record<string, string>, run: (a: GatewayProcess, b: GatewayProcess) => Promise<void>) {
  const [a, b] = await Promise.all([startGatewayProcess(env), startGatewayProcess(env)]);
  try {
    await run(a, b);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
}

async function sameKeyOnBoth(a: GatewayProcess, b: GatewayProcess, label: string) {
  const input = { lines: [{ productId: '2', quantity: 1 }, { productId: '3', quantity: 2 }], country: 'US', postcode: '10001', paymentToken: 'tok_visa', idempotencyKey: `${label}-${randomUUID()}` };
  const before = countsFor(new Set());
  // Four sends of one checkout, two to each replica, at once (a client retrying through a load balancer).
  const answers = await Promise.all([a, b, a, b].map((gw) => post(gw.url, { query: OPERATIONS.PlaceOrder, variables: { input } }, user1)));
  for (const r of answers) expect(r.body.errors, JSON.stringify(r.body.errors)).toBeUndefined();
  const ids = new Set(answers.map((r) => r.body.data.placeOrder.order.id as string));
  expect(ids.size).toBe(1);
  const after = countsFor(ids);
  expect(after.placed).toHaveLength(1);
  expect(after.charges - before.charges).toBe(1);
  expect(after.reservations - before.reservations).toBe(1);
  expect(after.orders - before.orders).toBe(1);

  // Sent again later, to either replica: the same order, nothing written.
  const again = await post(b.url, { query: OPERATIONS.PlaceOrder, variables: { input } }, user1);
  expect(again.body.data.placeOrder.order.id).toBe([...ids][0]);
  // Another input under the key, on the other replica: refused, nothing written.
  const reused = await post(a.url, { query: OPERATIONS.PlaceOrder, variables: { input: { ...input, lines: [{ productId: '2', quantity: 3 }] } } }, user1);
  expect(reused.body.errors[0].extensions.code).toBe('IDEMPOTENCY_KEY_REUSED');
  // User 2's identical key is user 2's own checkout.
  const other = await post(b.url, { query: OPERATIONS.PlaceOrder, variables: { input } }, user2);
  expect(other.body.errors).toBeUndefined();
  expect(ids.has(other.body.data.placeOrder.order.id)).toBe(false);
  const end = countsFor(ids);
  expect(end.charges - after.charges).toBe(1);
  expect(end.orders - after.orders).toBe(1);
}

describe('placeOrder idempotency across two gateway processes', () => {
  it('sharing the workflow log on PostgreSQL (DATABASE_URL)', async () => {
    const prefix = `wr_${process.pid}_${Date.now().toString(36)}_`;
    try {
      await twoReplicas({ ...sandboxEnv(sandbox.urls), DATABASE_URL, WORKFLOW_TABLE_PREFIX: prefix }, (a, b) => sameKeyOnBoth(a, b, 'pg'));
    } finally {
      await dropPostgresWorkflowTables(DATABASE_URL, prefix);
    }
  }, 90_000);

  it('each with its own embedded log, client keys claimed in Redis (REDIS_URL)', async () => {
    const dirs = [mkdtempSync(join(tmpdir(), 'tributary-replica-')), mkdtempSync(join(tmpdir(), 'tributary-replica-'))];
    const base = { ...sandboxEnv(sandbox.urls), REDIS_URL: 'redis://127.0.0.1:6379', CACHE_NAMESPACE: `tributary-test-${randomUUID()}` };
    try {
      const [a, b] = await Promise.all(dirs.map((d) => startGatewayProcess({ ...base, WORKFLOW_DIR: d })));
      try {
        await sameKeyOnBoth(a!, b!, 'redis');
      } finally {
        await Promise.all([a!.stop(), b!.stop()]);
      }
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  }, 90_000);
});
