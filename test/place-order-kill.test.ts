/**
 * placeOrder under SIGKILL, the real way: a gateway process (`node src/main.ts`) over the real sandbox is
 * killed while the sandbox holds one of the workflow's calls, either before applying it (`hang`) or after
 * (`afterEffect: hang`, the effect kept and its answer lost), at every write call of the workflow and of
 * its compensations. A new gateway over the same log (the embedded file, or PostgreSQL) recovers the
 * instance once the dead one's lease passed; the client's resend with the same key answers the outcome.
 *
 * Each kill is one life of a chain: life k recovers life k-1's instance (awaited through the client's
 * resend, so no fault is set while a recovery still calls) and then holds the next case. At the end, from
 * the sandbox's own books: every charge has exactly one order or a refund, every reservation is committed
 * by exactly one order or released, no order lacks its charge or its stock, no step's effect is applied
 * twice (one charge and one reservation per instance, one order per charge), and every outcome the
 * clients heard agrees with the books. The exact boundaries between log writes are covered in-process
 * by test/workflow-crash.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS } from '../src/config.js';
import { signUserToken } from '../src/identity.js';
import { dropPostgresWorkflowTables } from '../src/workflow/index.js';
import { sandboxUpstreamNames, startSandbox, type FaultSpec, type Sandbox } from '../sandbox/index.js';
import { sandboxEnv, startGatewayProcess, type GatewayProcess } from './support/gateway-process.js';
import { OPERATIONS, post } from './support/stack.js';
import { DATABASE_URL } from './support/workflow-stores.js';
import { eventually } from './support/wait.js';

const ADMIN_TOKEN = `admin-${randomUUID()}`;

type Expect = 'completed' | 'ORDER_FAILED' | 'PAYMENT_DECLINED' | 'either';

interface Case {
  readonly name: string;
  readonly faults: Readonly<Record<string, FaultSpec>>;
  /** The call the sandbox holds when the gateway is killed. */
  readonly held: { readonly upstream: string; readonly method: string; readonly path: RegExp };
  readonly paymentToken?: string;
  /** What the client hears after recovery: before the order exists, everything is undone; after, it goes forward. */
  readonly expect: Expect;
}

const hang: FaultSpec['hang'] = { probability: 1 };
const lost: FaultSpec['afterEffect'] = { probability: 1, outcome: 'hang' };
const ordersDown: FaultSpec = { error: { probability: 1, status: 500 }, routes: ['POST /orders'] };

const CASES: readonly Case[] = [
  { name: 'reserve held', faults: { inventory: { hang, routes: ['POST /reservations'] } }, held: { upstream: 'inventory', method: 'POST', path: /^\/reservations$/ }, expect: 'ORDER_FAILED' },
  { name: 'reserve applied, answer lost', faults: { inventory: { afterEffect: lost, routes: ['POST /reservations'] } }, held: { upstream: 'inventory', method: 'POST', path: /^\/reservations$/ }, expect: 'ORDER_FAILED' },
  { name: 'charge held', faults: { payments: { hang, routes: ['POST /v1/charges'] } }, held: { upstream: 'payments', method: 'POST', path: /^\/v1\/charges$/ }, expect: 'ORDER_FAILED' },
  { name: 'charge applied, answer lost', faults: { payments: { afterEffect: lost, routes: ['POST /v1/charges'] } }, held: { upstream: 'payments', method: 'POST', path: /^\/v1\/charges$/ }, expect: 'ORDER_FAILED' },
  // The pivot not applied: recovery asks again with the same key and learns the truth; either way the books must agree.
  { name: 'order held', faults: { orders: { hang, routes: ['POST /orders'] } }, held: { upstream: 'orders', method: 'POST', path: /^\/orders$/ }, expect: 'either' },
  { name: 'order applied, answer lost', faults: { orders: { afterEffect: lost, routes: ['POST /orders'] } }, held: { upstream: 'orders', method: 'POST', path: /^\/orders$/ }, expect: 'completed' },
  { name: 'commit held', faults: { inventory: { hang, routes: ['POST /reservations/:id/commit'] } }, held: { upstream: 'inventory', method: 'POST', path: /\/commit$/ }, expect: 'completed' },
  { name: 'commit applied, answer lost', faults: { inventory: { afterEffect: lost, routes: ['POST /reservations/:id/commit'] } }, held: { upstream: 'inventory', method: 'POST', path: /\/commit$/ }, expect: 'completed' },
  { name: 'declined, release held', paymentToken: 'tok_declined', faults: { inventory: { hang, routes: ['DELETE /reservations/:id'] } }, held: { upstream: 'inventory', method: 'DELETE', path: /^\/reservations\/[^/]+$/ }, expect: 'PAYMENT_DECLINED' },
  { name: 'declined, release applied, answer lost', paymentToken: 'tok_declined', faults: { inventory: { afterEffect: lost, routes: ['DELETE /reservations/:id'] } }, held: { upstream: 'inventory', method: 'DELETE', path: /^\/reservations\/[^/]+$/ }, expect: 'PAYMENT_DECLINED' },
  { name: 'order failing, refund held', faults: { orders: ordersDown, payments: { hang, routes: ['POST /v1/refunds'] } }, held: { upstream: 'payments', method: 'POST', path: /^\/v1\/refunds$/ }, expect: 'ORDER_FAILED' },
  { name: 'order failing, refund applied, answer lost', faults: { orders: ordersDown, payments: { afterEffect: lost, routes: ['POST /v1/refunds'] } }, held: { upstream: 'payments', method: 'POST', path: /^\/v1\/refunds$/ }, expect: 'ORDER_FAILED' },
];

interface Sent {
  readonly c: Case;
  readonly input: Record<string, unknown>;
}

type Heard = { kind: 'completed'; orderId: string } | { kind: 'error'; code: string };

function heard(body: any): Heard {
  const order = body?.data?.placeOrder?.order;
  if (order) return { kind: 'completed', orderId: order.id };
  const code = body?.errors?.[0]?.extensions?.code;
  return { kind: 'error', code: String(code) };
}

function matches(expected: Expect, h: Heard): boolean {
  if (expected === 'either') return h.kind === 'completed' || h.code === 'ORDER_FAILED';
  return expected === 'completed' ? h.kind === 'completed' : h.kind === 'error' && h.code === expected;
}

const held = (sandbox: Sandbox, h: Case['held']) => sandbox.upstream(h.upstream).stats().requests.filter((r) => r.method === h.method && h.path.test(r.path.split('?', 1)[0]!)).length;

interface Books {
  charges: { id: string; description: string | null; refunded: boolean }[];
  orders: { id: string; chargeId: string; reservationId: string }[];
  reservations: { reservationId: string; status: string; idempotencyKey: string | null }[];
}

function books(sandbox: Sandbox): Books {
  const r = (n: string) => sandbox.upstream(n).records() as unknown as Record<string, unknown[]>;
  return { charges: r('payments').charges as Books['charges'], orders: r('orders').orders as Books['orders'], reservations: r('inventory').reservations as Books['reservations'] };
}

/** Nothing half done and nothing twice, from the upstreams' own records. */
function assertBalanced(b: Books): void {
  const ordersByCharge = new Map<string, number>();
  const ordersByReservation = new Map<string, number>();
  for (const o of b.orders) {
    ordersByCharge.set(o.chargeId, (ordersByCharge.get(o.chargeId) ?? 0) + 1);
    ordersByReservation.set(o.reservationId, (ordersByReservation.get(o.reservationId) ?? 0) + 1);
  }
  // No order applied twice: one order per charge and per reservation.
  for (const n of [...ordersByCharge.values(), ...ordersByReservation.values()]) expect(n).toBe(1);
  const charges = new Map(b.charges.map((c) => [c.id, c]));
  const reservations = new Map(b.reservations.map((r) => [r.reservationId, r]));
  // No order without its charge (kept) and its stock (committed).
  for (const o of b.orders) {
    expect(charges.get(o.chargeId)?.refunded).toBe(false);
    expect(reservations.get(o.reservationId)?.status).toBe('COMMITTED');
  }
  // No charge without an order or a refund; no stock held without an order.
  for (const c of b.charges) expect(ordersByCharge.has(c.id) !== c.refunded).toBe(true);
  for (const r of b.reservations) expect(r.status).toBe(ordersByReservation.has(r.reservationId) ? 'COMMITTED' : 'RELEASED');
  // No step applied twice: one charge and one reservation per workflow instance.
  const descriptions = b.charges.map((c) => c.description);
  expect(new Set(descriptions).size).toBe(descriptions.length);
  const reserveKeys = b.reservations.map((r) => r.idempotencyKey);
  expect(reserveKeys.every((k) => typeof k === 'string')).toBe(true);
  expect(new Set(reserveKeys).size).toBe(reserveKeys.length);
}

async function chain(kind: 'sqlite' | 'postgres'): Promise<void> {
  const sandbox = await startSandbox({ portBase: 0, seed: 7, latencyMs: Object.fromEntries(sandboxUpstreamNames().map((n) => [n, 0])) });
  const directory = mkdtempSync(join(tmpdir(), 'tributary-kill-'));
  const prefix = `wk_${process.pid}_${Date.now().toString(36)}_`;
  const env: Record<string, string> = {
    ...sandboxEnv(sandbox.urls),
    ADMIN_TOKEN,
    // Another process takes a dead one's workflows over after a second (the shortest lease allowed).
    WORKFLOW_LEASE_MS: '1000',
    ...(kind === 'postgres' ? { DATABASE_URL, WORKFLOW_TABLE_PREFIX: prefix } : { WORKFLOW_DIR: directory }),
  };
  const auth = { authorization: `Bearer ${await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '1')}` };
  const send = (gw: GatewayProcess, s: Sent) => post(gw.url, { query: OPERATIONS.PlaceOrder, variables: { input: s.input } }, auth);
  const sent: Sent[] = [];
  let gw: GatewayProcess | undefined;
  try {
    for (const [i, c] of CASES.entries()) {
      gw = await startGatewayProcess(env);
      const previous = sent.at(-1);
      if (previous) {
        // The previous life's instance, recovered here: the client's resend (same key, same input) answers it.
        const h = heard((await send(gw, previous)).body);
        expect(matches(previous.c.expect, h), `${kind} ${previous.c.name}: ${JSON.stringify(h)}`).toBe(true);
      }
      const s: Sent = { c, input: { lines: [{ productId: String(1 + (i % 5)), quantity: 1 }], country: 'US', postcode: '10001', paymentToken: c.paymentToken ?? 'tok_visa', idempotencyKey: `kill-${kind}-${i}-${randomUUID()}` } };
      sent.push(s);
      const before = held(sandbox, c.held);
      for (const [name, spec] of Object.entries(c.faults)) sandbox.upstream(name).setFaults(spec);
      const pending = send(gw, s).then(
        () => 'answered',
        () => 'cut off',
      );
      await eventually(() => held(sandbox, c.held) > before, `${kind} ${c.name}: the held call reached the sandbox`, 20_000);
      await gw.kill();
      // The killed gateway never answered its client.
      expect(await pending).toBe('cut off');
      for (const name of Object.keys(c.faults)) sandbox.upstream(name).setFaults(null);
    }
    gw = await startGatewayProcess(env);
    const last = sent.at(-1)!;
    expect(matches(last.c.expect, heard((await send(gw, last)).body))).toBe(true);

    // After the last restart, every key answers its outcome again, with no new side effect.
    const writes = () => ['inventory', 'payments', 'orders'].reduce((n, u) => n + sandbox.upstream(u).stats().requests.filter((r) => r.method !== 'GET' && !r.path.startsWith('/stock/')).length, 0);
    const writesBefore = writes();
    const answers = await Promise.all(sent.map(async (s) => ({ s, h: heard((await send(gw!, s)).body) })));
    expect(writes()).toBe(writesBefore);
    const b = books(sandbox);
    assertBalanced(b);
    const orderIds = new Set(b.orders.map((o) => o.id));
    for (const { s, h } of answers) {
      expect(matches(s.c.expect, h), `${kind} ${s.c.name}: ${JSON.stringify(h)}`).toBe(true);
      // What the client hears agrees with the books: an order it is told of exists, and only those exist.
      if (h.kind === 'completed') expect(orderIds.has(h.orderId)).toBe(true);
    }
    expect(b.orders.length).toBe(answers.filter((a) => a.h.kind === 'completed').length);
    // Every instance that got as far as a charge has one: a charge per instance, none for declined cards.
    expect(b.charges.length).toBeLessThanOrEqual(CASES.filter((c) => !c.paymentToken).length);
    expect(b.charges.length).toBeGreaterThanOrEqual(CASES.filter((c) => !c.paymentToken && c.held.upstream !== 'inventory').length);

    // The admin listing: nothing left in flight or stuck; the undone ones listed as compensated, keys hashed.
    const admin = async (path: string) => {
      const res = await fetch(`${gw!.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(res.status).toBe(200);
      return { text: await res.clone().text(), json: (await res.json()) as any };
    };
    expect((await admin('/admin/workflows?view=in-flight')).json.count).toBe(0);
    expect((await admin('/admin/workflows?view=stuck')).json.count).toBe(0);
    const compensated = await admin('/admin/workflows?view=compensated');
    expect(compensated.json.count).toBe(answers.filter((a) => a.h.kind === 'error').length);
    const recovered = compensated.json.workflows.filter((w: any) => w.attempts > 1);
    expect(recovered.length).toBeGreaterThan(0);
    const one = await admin(`/admin/workflows/${encodeURIComponent(recovered[0].id)}`);
    expect(one.json.steps.some((st: any) => st.kind === 'compensate' && st.state === 'done')).toBe(true);
    for (const text of [compensated.text, one.text]) {
      for (const s of sent) expect(text).not.toContain(String(s.input.idempotencyKey));
      expect(text).not.toContain('tok_visa');
      expect(text).not.toContain('tok_declined');
    }
  } finally {
    await gw?.stop();
    await sandbox.close();
    if (kind === 'postgres') await dropPostgresWorkflowTables(DATABASE_URL, prefix);
    rmSync(directory, { recursive: true, force: true });
  }
}

describe('placeOrder with a real gateway killed (SIGKILL) mid-call and restarted over the same log', () => {
  it.concurrent('on the embedded log (WORKFLOW_DIR)', () => chain('sqlite'), 240_000);
  it.concurrent('on PostgreSQL (DATABASE_URL), shared by the next process', () => chain('postgres'), 240_000);
});
