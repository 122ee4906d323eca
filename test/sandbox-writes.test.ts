/**
 * The sandbox's write upstreams (sandbox/README.md, "Writes"): inventory reservations with expiry by
 * the sandbox clock, payments, orders, Idempotency-Key on every side-effecting call, the after-effect
 * fault, and the books at GET /__records. Real servers on port 0; a fake clock; no timed assertions.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SANDBOX_CREDENTIALS, IDEMPOTENCY_KEY_TTL_MS, sandboxUpstreamNames, startSandbox, type Sandbox } from '../sandbox/index.js';
import { productBySku, products } from '../sandbox/data.js';

let sb: Sandbox;
let clock = Date.UTC(2031, 5, 1, 12, 0, 0);
let seq = 0;
const key = (what: string) => `test-${what}-${++seq}`;

beforeAll(async () => {
  sb = await startSandbox({ portBase: 0, latencyMs: Object.fromEntries(sandboxUpstreamNames().map((n) => [n, 0])), seed: 5, now: () => clock });
});
afterAll(async () => {
  await sb?.close();
});
afterEach(() => {
  for (const u of Object.values(sb.upstreams)) u.setFaults(null);
});

const credential = (k: string): string => DEFAULT_SANDBOX_CREDENTIALS[k]!;
const AUTH: Record<string, Record<string, string>> = {
  inventory: { 'x-api-key': credential('inventoryApiKey') },
  payments: { authorization: `Bearer ${credential('paymentsSecretKey')}` },
  orders: { 'x-api-key': credential('ordersApiKey') },
};

interface Res {
  status: number;
  body: any;
  headers: Headers;
}

async function call(upstream: string, method: string, path: string, opts: { body?: unknown; key?: string; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...AUTH[upstream], ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.key !== undefined) headers['idempotency-key'] = opts.key;
  const r = await fetch(sb.url(upstream) + path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: opts.signal });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined, headers: r.headers };
}

const records = async (upstream: string) => (await fetch(`${sb.url(upstream)}/__records`)).json() as Promise<any>;
const onHand = async (sku: string): Promise<number> => (await call('inventory', 'POST', '/stock/lookup', { body: { skus: [sku] } })).body.items[0].onHand;
const keyRecord = async (upstream: string, k: string) => (await records(upstream)).idempotencyKeys.find((r: any) => r.key === k);

/** A product with plenty of stock, and one with little. */
const plenty = [...products].sort((a, b) => b.stock - a.stock)[0]!;
const scarce = products.find((p) => p.stock >= 2 && p.stock <= 10)!;

const orderBody = (userId: number | string, over: Record<string, unknown> = {}) => ({
  userId,
  lines: [
    { sku: plenty.sku, quantity: 2, unitPriceCents: 899 },
    { sku: scarce.sku, quantity: 1, unitPriceCents: 1250 },
  ],
  subtotalCents: 3048,
  shippingCents: 700,
  taxCents: 221,
  totalCents: 3969,
  chargeId: 'ch_test',
  reservationId: 'res_test',
  country: 'US',
  postcode: '10001',
  ...over,
});

describe('inventory reservations', () => {
  it('hold stock (lookup and later reservations see less), commit for good, and refuse what is not on hand', async () => {
    const start = await onHand(scarce.sku);
    expect(start).toBe(productBySku.get(scarce.sku)!.stock);
    const r = await call('inventory', 'POST', '/reservations', { body: { items: [{ sku: scarce.sku, quantity: 2 }], ttlSeconds: 60 }, key: key('res') });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ reservationId: expect.stringMatching(/^res_/), status: 'HELD', expiresAt: new Date(clock + 60_000).toISOString(), items: [{ sku: scarce.sku, quantity: 2 }] });
    const id = r.body.reservationId;
    expect(await onHand(scarce.sku)).toBe(start - 2);
    expect((await call('inventory', 'GET', `/reservations/${id}`)).body).toMatchObject({ reservationId: id, status: 'HELD', items: [{ sku: scarce.sku, quantity: 2 }] });

    // More than what is left: 409 naming the SKU, nothing held.
    const over = await call('inventory', 'POST', '/reservations', { body: { items: [{ sku: plenty.sku, quantity: 1 }, { sku: scarce.sku, quantity: start - 1 }] }, key: key('res') });
    expect(over.status).toBe(409);
    expect(over.body).toEqual({ message: expect.stringContaining(scarce.sku), sku: scarce.sku });
    expect(await onHand(plenty.sku)).toBe(plenty.stock);
    // Two lines of one SKU count together.
    const twice = await call('inventory', 'POST', '/reservations', { body: { items: [{ sku: scarce.sku, quantity: start - 2 }, { sku: scarce.sku, quantity: 1 }] } });
    expect(twice.status).toBe(409);

    const commit = await call('inventory', 'POST', `/reservations/${id}/commit`, { key: key('commit') });
    expect(commit.status).toBe(200);
    expect(commit.body).toEqual({ reservationId: id, status: 'COMMITTED' });
    expect((await call('inventory', 'GET', `/reservations/${id}`)).body.status).toBe('COMMITTED');
    expect(await onHand(scarce.sku)).toBe(start - 2);
    // A committed reservation is not released, and does not come back when its TTL passes.
    expect((await call('inventory', 'DELETE', `/reservations/${id}`)).status).toBe(409);
    clock += 61_000;
    expect(await onHand(scarce.sku)).toBe(start - 2);
    expect((await call('inventory', 'GET', `/reservations/${id}`)).body.status).toBe('COMMITTED');
  });

  it('release returns the stock; DELETE is idempotent (unknown, released, expired: 204)', async () => {
    const before = await onHand(plenty.sku);
    const r = await call('inventory', 'POST', '/reservations', { body: { items: [{ sku: plenty.sku, quantity: 5 }], ttlSeconds: 600 } });
    expect(await onHand(plenty.sku)).toBe(before - 5);
    const id = r.body.reservationId;
    expect((await call('inventory', 'DELETE', `/reservations/${id}`)).status).toBe(204);
    expect(await onHand(plenty.sku)).toBe(before);
    expect((await call('inventory', 'GET', `/reservations/${id}`)).body.status).toBe('RELEASED');
    expect((await call('inventory', 'DELETE', `/reservations/${id}`)).status).toBe(204);
    expect((await call('inventory', 'DELETE', '/reservations/res_unknown')).status).toBe(204);
    expect(await onHand(plenty.sku)).toBe(before);
    const commit = await call('inventory', 'POST', `/reservations/${id}/commit`);
    expect(commit.status).toBe(409);
    expect(commit.body.status).toBe('RELEASED');
    expect((await call('inventory', 'GET', '/reservations/res_unknown')).status).toBe(404);
    expect((await call('inventory', 'POST', '/reservations/res_unknown/commit')).status).toBe(404);
  });

  it('expire by the sandbox clock: the stock returns by itself and the reservation cannot be committed', async () => {
    const before = await onHand(plenty.sku);
    const r = await call('inventory', 'POST', '/reservations', { body: { items: [{ sku: plenty.sku, quantity: 3 }], ttlSeconds: 30 } });
    const id = r.body.reservationId;
    clock += 29_999;
    expect(await onHand(plenty.sku)).toBe(before - 3);
    expect((await call('inventory', 'GET', `/reservations/${id}`)).body.status).toBe('HELD');
    clock += 1;
    expect(await onHand(plenty.sku)).toBe(before);
    expect((await call('inventory', 'GET', `/reservations/${id}`)).body.status).toBe('EXPIRED');
    expect((await call('inventory', 'POST', `/reservations/${id}/commit`)).status).toBe(409);
    expect((await call('inventory', 'DELETE', `/reservations/${id}`)).status).toBe(204);
    const rec = (await records('inventory')).reservations.find((x: any) => x.reservationId === id);
    expect(rec).toMatchObject({ status: 'EXPIRED', settledAt: new Date(clock).toISOString() });
  });

  it('refuses invalid bodies with 400 and wrong keys with 401', async () => {
    for (const body of [{}, { items: [] }, { items: [{ sku: plenty.sku, quantity: 0 }] }, { items: [{ sku: plenty.sku, quantity: 1 }], ttlSeconds: 0 }]) {
      expect((await call('inventory', 'POST', '/reservations', { body })).status).toBe(400);
    }
    const r = await call('inventory', 'POST', '/reservations', { body: { items: [{ sku: plenty.sku, quantity: 1 }] }, headers: { 'x-api-key': 'wrong' } });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('ApiKey header="X-Api-Key"');
  });
});

describe('Idempotency-Key', () => {
  it('the same key and body answer the first answer again and hold the stock once; another body is a 409', async () => {
    const before = await onHand(plenty.sku);
    const k = key('res');
    const body = { items: [{ sku: plenty.sku, quantity: 4 }], ttlSeconds: 120 };
    const first = await call('inventory', 'POST', '/reservations', { body, key: k });
    // The same body with its keys in another order is the same body.
    const again = await call('inventory', 'POST', '/reservations', { body: { ttlSeconds: 120, items: [{ quantity: 4, sku: plenty.sku }] }, key: k });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(await onHand(plenty.sku)).toBe(before - 4);
    const other = await call('inventory', 'POST', '/reservations', { body: { ...body, ttlSeconds: 121 }, key: k });
    expect(other.status).toBe(409);
    expect(other.body).toEqual({ message: 'Idempotency-Key reused with a different body' });
    expect(await keyRecord('inventory', k)).toMatchObject({ route: 'POST /reservations', applied: 1, replays: 1, conflicts: 1, status: 201 });
    // A key on one reservation's commit is not the key of another's.
    const second = await call('inventory', 'POST', '/reservations', { body: { items: [{ sku: plenty.sku, quantity: 1 }] } });
    const ck = key('commit');
    expect((await call('inventory', 'POST', `/reservations/${first.body.reservationId}/commit`, { key: ck })).status).toBe(200);
    expect((await call('inventory', 'POST', `/reservations/${second.body.reservationId}/commit`, { key: ck })).status).toBe(409);
    expect((await call('inventory', 'GET', `/reservations/${second.body.reservationId}`)).body.status).toBe('HELD');
  });

  it('twenty concurrent charges with one key make one charge, and all twenty get its answer', async () => {
    const k = key('charge');
    const answers = await Promise.all(Array.from({ length: 20 }, () => call('payments', 'POST', '/v1/charges', { body: { amountCents: 4321, currency: 'USD', source: 'tok_visa' }, key: k })));
    expect(new Set(answers.map((a) => a.status))).toEqual(new Set([201]));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    const books = await records('payments');
    expect(books.charges.filter((c: any) => c.idempotencyKey === k)).toHaveLength(1);
    expect(books.idempotencyKeys.find((r: any) => r.key === k)).toMatchObject({ applied: 1, replays: 19 });
  });

  it('a 400 is not kept (a corrected request may reuse the key); keys are kept 24 h by the sandbox clock', async () => {
    const k = key('order');
    expect((await call('orders', 'POST', '/orders', { body: orderBody(7, { totalCents: 1 }), key: k })).status).toBe(400);
    const empty = await call('orders', 'POST', '/orders', { body: orderBody(7), key: '' });
    expect(empty.status).toBe(400);
    expect(empty.body.message).toContain('Idempotency-Key');
    const placed = await call('orders', 'POST', '/orders', { body: orderBody(7), key: k });
    expect(placed.status).toBe(201);
    clock += IDEMPOTENCY_KEY_TTL_MS - 1;
    expect((await call('orders', 'POST', '/orders', { body: orderBody(7), key: k })).body.id).toBe(placed.body.id);
    expect((await call('orders', 'POST', '/orders', { body: orderBody(8), key: k })).status).toBe(409);
    clock += 1;
    const fresh = await call('orders', 'POST', '/orders', { body: orderBody(8), key: k });
    expect(fresh.status).toBe(201);
    expect(fresh.body.id).not.toBe(placed.body.id);
  });
});

describe('payments', () => {
  it('charges tok_visa, declines tok_declined (402) and fails tok_error (500); a decline replays as a decline', async () => {
    const ok = await call('payments', 'POST', '/v1/charges', { body: { amountCents: 1999, currency: 'USD', source: 'tok_visa', description: 'order 1' }, key: key('charge') });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ id: expect.stringMatching(/^ch_/), status: 'SUCCEEDED', amountCents: 1999 });
    expect((await call('payments', 'GET', `/v1/charges/${ok.body.id}`)).body).toMatchObject({ id: ok.body.id, amountCents: 1999, refunded: false });
    const dk = key('charge');
    const declined = await call('payments', 'POST', '/v1/charges', { body: { amountCents: 500, currency: 'USD', source: 'tok_declined' }, key: dk });
    expect(declined.status).toBe(402);
    expect(declined.body.error.code).toBe('card_declined');
    expect((await call('payments', 'POST', '/v1/charges', { body: { amountCents: 500, currency: 'USD', source: 'tok_declined' }, key: dk })).status).toBe(402);
    const failed = await call('payments', 'POST', '/v1/charges', { body: { amountCents: 500, currency: 'USD', source: 'tok_error' } });
    expect(failed.status).toBe(500);
    for (const body of [{ amountCents: 0, currency: 'USD', source: 'tok_visa' }, { amountCents: 1, currency: 'EUR', source: 'tok_visa' }, { amountCents: 1, currency: 'USD', source: 'tok_other' }]) {
      expect((await call('payments', 'POST', '/v1/charges', { body })).status).toBe(400);
    }
    const denied = await call('payments', 'POST', '/v1/charges', { body: { amountCents: 1, currency: 'USD', source: 'tok_visa' }, headers: { authorization: 'Bearer wrong' } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer realm="sandbox-payments"');
    const books = await records('payments');
    expect(books.declines.filter((d: any) => d.idempotencyKey === dk)).toHaveLength(1);
  });

  it('refunds a charge once: the same key replays, another key is a 409, an unknown charge a 404', async () => {
    const charge = (await call('payments', 'POST', '/v1/charges', { body: { amountCents: 2500, currency: 'USD', source: 'tok_visa' }, key: key('charge') })).body;
    const rk = key('refund');
    const refund = await call('payments', 'POST', '/v1/refunds', { body: { chargeId: charge.id }, key: rk });
    expect(refund.status).toBe(201);
    expect(refund.body).toMatchObject({ id: expect.stringMatching(/^re_/), chargeId: charge.id, status: 'SUCCEEDED', amountCents: 2500 });
    expect((await call('payments', 'POST', '/v1/refunds', { body: { chargeId: charge.id }, key: rk })).body).toEqual(refund.body);
    const second = await call('payments', 'POST', '/v1/refunds', { body: { chargeId: charge.id }, key: key('refund') });
    expect(second.status).toBe(409);
    expect((await call('payments', 'GET', `/v1/charges/${charge.id}`)).body.refunded).toBe(true);
    expect((await call('payments', 'POST', '/v1/refunds', { body: { chargeId: 'ch_nope' } })).status).toBe(404);
    expect((await call('payments', 'GET', '/v1/charges/ch_nope')).status).toBe(404);
    const books = await records('payments');
    expect(books.refunds.filter((r: any) => r.chargeId === charge.id)).toHaveLength(1);
    expect(books.charges.find((c: any) => c.id === charge.id)).toMatchObject({ refunded: true, refundId: refund.body.id });
  });
});

describe('orders', () => {
  it('places orders and reads them back by id and by user, newest first', async () => {
    const user = 9001;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      clock += 1000;
      const r = await call('orders', 'POST', '/orders', { body: orderBody(user, { chargeId: `ch_${i}` }), key: key('order') });
      expect(r.status).toBe(201);
      expect(r.body).toEqual({ id: expect.stringMatching(/^ord_/), status: 'PLACED', createdAt: new Date(clock).toISOString() });
      ids.push(r.body.id);
    }
    const one = await call('orders', 'GET', `/orders/${ids[1]}`);
    expect(one.body).toEqual({ id: ids[1], status: 'PLACED', createdAt: expect.any(String), ...orderBody(user, { chargeId: 'ch_1' }) });
    const list = await call('orders', 'GET', `/orders?userId=${user}`);
    expect(list.body.orders.map((o: any) => o.id)).toEqual([...ids].reverse());
    expect((await call('orders', 'GET', `/orders?userId=${user}&limit=2`)).body.orders.map((o: any) => o.id)).toEqual([ids[2], ids[1]]);
    expect((await call('orders', 'GET', '/orders?userId=424242')).body).toEqual({ orders: [] });
    expect((await call('orders', 'GET', '/orders')).status).toBe(400);
    expect((await call('orders', 'GET', '/orders/ord_nope')).status).toBe(404);
    // Money that does not add up is refused.
    expect((await call('orders', 'POST', '/orders', { body: orderBody(user, { subtotalCents: 3000, totalCents: 3921 }) })).status).toBe(400);
    expect((await call('orders', 'GET', `/orders?userId=${user}`, { headers: { 'x-api-key': 'wrong' } })).status).toBe(401);
  });
});

describe('the after-effect fault: the side effect happens, the answer is lost', () => {
  it('hang: the client gives up, yet the charge exists; its retry with the same key gets the charge, not a second one', async () => {
    sb.upstream('payments').setFaults({ afterEffect: { probability: 1, outcome: 'hang' }, routes: ['POST /v1/charges'], times: 1 });
    const k = key('charge');
    const body = { amountCents: 7777, currency: 'USD', source: 'tok_visa' };
    await expect(call('payments', 'POST', '/v1/charges', { body, key: k, signal: AbortSignal.timeout(300) })).rejects.toThrow();
    const made = (await records('payments')).charges.filter((c: any) => c.idempotencyKey === k);
    expect(made).toHaveLength(1);
    expect(sb.upstream('payments').faults()).toBeNull(); // `times: 1` used up
    const retry = await call('payments', 'POST', '/v1/charges', { body, key: k });
    expect(retry.status).toBe(201);
    expect(retry.body.id).toBe(made[0].id);
    expect((await records('payments')).charges.filter((c: any) => c.idempotencyKey === k)).toHaveLength(1);
    expect(await keyRecord('payments', k)).toMatchObject({ applied: 1, replays: 1 });
  });

  it('error and reset: a 500 or a dropped connection after the order was placed; the retry gets the order', async () => {
    const orders = sb.upstream('orders');
    orders.setFaults({ afterEffect: { probability: 1, outcome: 'error', status: 503 }, routes: ['POST /orders'] });
    const k1 = key('order');
    const lost = await call('orders', 'POST', '/orders', { body: orderBody(555), key: k1 });
    expect(lost.status).toBe(503);
    // Another route of the same upstream is not affected.
    expect((await call('orders', 'GET', '/orders?userId=555')).body.orders).toHaveLength(1);
    orders.setFaults({ afterEffect: { probability: 1, outcome: 'reset' }, routes: ['POST /orders'] });
    const k2 = key('order');
    await expect(call('orders', 'POST', '/orders', { body: orderBody(555, { chargeId: 'ch_other' }), key: k2 })).rejects.toThrow();
    orders.setFaults(null);
    const [a, b] = [await call('orders', 'POST', '/orders', { body: orderBody(555), key: k1 }), await call('orders', 'POST', '/orders', { body: orderBody(555, { chargeId: 'ch_other' }), key: k2 })];
    expect([a.status, b.status]).toEqual([201, 201]);
    const placed = (await call('orders', 'GET', '/orders?userId=555')).body.orders;
    expect(placed.map((o: any) => o.id).sort()).toEqual([a.body.id, b.body.id].sort());
  });

  it('delay: the answer comes after the client gave up; the reservation is held once', async () => {
    const before = await onHand(plenty.sku);
    sb.upstream('inventory').setFaults({ afterEffect: { probability: 1, outcome: 'delay', delayMs: 60_000 }, routes: ['POST /reservations'], times: 1 });
    const k = key('res');
    const body = { items: [{ sku: plenty.sku, quantity: 2 }] };
    await expect(call('inventory', 'POST', '/reservations', { body, key: k, signal: AbortSignal.timeout(300) })).rejects.toThrow();
    expect(await onHand(plenty.sku)).toBe(before - 2);
    const retry = await call('inventory', 'POST', '/reservations', { body, key: k });
    expect(retry.status).toBe(201);
    expect(await onHand(plenty.sku)).toBe(before - 2);
    expect((await records('inventory')).reservations.filter((r: any) => r.idempotencyKey === k)).toHaveLength(1);
  });

  it('faults before the effect (error, hang) leave nothing done', async () => {
    sb.upstream('payments').setFaults({ error: { probability: 1, status: 500 }, routes: ['POST /v1/charges'] });
    const k = key('charge');
    expect((await call('payments', 'POST', '/v1/charges', { body: { amountCents: 1, currency: 'USD', source: 'tok_visa' }, key: k })).status).toBe(500);
    const books = await records('payments');
    expect(books.charges.filter((c: any) => c.idempotencyKey === k)).toEqual([]);
    expect(books.idempotencyKeys.filter((r: any) => r.key === k)).toEqual([]);
  });

  it('is validated like every fault', async () => {
    const r = await fetch(`${sb.url('payments')}/__faults`, { method: 'POST', body: JSON.stringify({ afterEffect: { probability: 1, outcome: 'vanish' } }) });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { message: string }).message).toContain('afterEffect.outcome');
  });
});

describe('records and documents', () => {
  it('GET /__records is read-only and not recorded in the stats; every upstream answers it', async () => {
    for (const name of Object.keys(sb.upstreams)) {
      sb.upstream(name).resetStats();
      const r = await fetch(`${sb.url(name)}/__records`);
      expect(r.status).toBe(200);
      const books = (await r.json()) as Record<string, unknown>;
      expect(Array.isArray(books.idempotencyKeys)).toBe(true);
      expect((await fetch(`${sb.url(name)}/__records`, { method: 'DELETE' })).status).toBe(405);
      expect(sb.upstream(name).stats().total).toBe(0);
    }
    expect(Object.keys(await records('payments')).sort()).toEqual(['charges', 'declines', 'idempotencyKeys', 'refunds']);
    expect(Object.keys(await records('orders')).sort()).toEqual(['history', 'idempotencyKeys', 'orders']);
    expect(Object.keys(await records('inventory')).sort()).toEqual(['committed', 'held', 'idempotencyKeys', 'reservations']);
  });

  it('the OpenAPI documents describe the write routes, their Idempotency-Key and their refusals', async () => {
    const pay = (await (await fetch(`${sb.url('payments')}/openapi.json`)).json()) as any;
    expect(pay.components.securitySchemes).toEqual({ bearer: { type: 'http', scheme: 'bearer' } });
    expect(Object.keys(pay.paths['/v1/charges'].post.responses)).toEqual(expect.arrayContaining(['201', '402', '409', '500', '401']));
    expect(pay.paths['/v1/charges'].post.parameters.map((p: any) => p.name)).toContain('Idempotency-Key');
    const inv = (await (await fetch(`${sb.url('inventory')}/openapi.json`)).json()) as any;
    expect(inv.paths['/reservations/{id}'].delete.responses['204']).toBeDefined();
    const ord = (await (await fetch(`${sb.url('orders')}/openapi.json`)).json()) as any;
    expect(ord.components.securitySchemes.apiKey).toEqual({ type: 'apiKey', in: 'header', name: 'X-Api-Key' });
  });
});
