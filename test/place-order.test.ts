/**
 * PlaceOrder end to end: a real gateway over the real sandbox (inventory reservations, payments,
 * orders), every outcome the schema documents, asserted from the sandbox's own books (`records()`).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS } from '../src/config.js';
import { signUserToken } from '../src/identity.js';
import { hashApiKey } from '../src/security/clients.js';
import { productById } from '../sandbox/data.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

interface Books {
  charges: { id: string; amountCents: number; refunded: boolean }[];
  refunds: unknown[];
  orders: { id: string; userId: string | number; totalCents: number }[];
  reservations: { reservationId: string; status: string }[];
}

const ADMIN_TOKEN = `admin-${process.pid}-${Date.now()}`;
let stack: Stack;
let user1: Record<string, string>;
let user2: Record<string, string>;
let seq = 0;
const key = () => `checkout-${process.pid}-${++seq}`;
const cart = (over: Record<string, unknown> = {}) => ({ lines: [{ productId: '1', quantity: 2 }, { productId: '5', quantity: 1 }], country: 'US', postcode: '10001', paymentToken: 'tok_visa', idempotencyKey: key(), ...over });

function books(): Books {
  const up = (n: string) => stack.sandbox.upstream(n).records() as unknown as Record<string, unknown[]>;
  return {
    charges: up('payments').charges as Books['charges'],
    refunds: up('payments').refunds!,
    orders: up('orders').orders as Books['orders'],
    reservations: up('inventory').reservations as Books['reservations'],
  };
}
const writesReceived = () =>
  ['inventory', 'payments', 'orders'].reduce((n, u) => n + stack.sandbox.upstream(u).stats().requests.filter((r) => r.method !== 'GET' && !r.path.startsWith('/stock/')).length, 0);

beforeAll(async () => {
  stack = await startStack({ env: { ADMIN_TOKEN }, sandbox: { latencyMs: { catalog: 0, pricing: 0, inventory: 0, shipping: 0, tax: 0, payments: 0, orders: 0, accounts: 0 } } });
  user1 = { authorization: `Bearer ${await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '1')}` };
  user2 = { authorization: `Bearer ${await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '2')}` };
});
afterAll(async () => stack?.close());
beforeEach(() => {
  for (const u of ['inventory', 'payments', 'orders']) {
    stack.sandbox.upstream(u).setFaults(null);
    stack.sandbox.upstream(u).resetStats();
  }
});

describe('placeOrder', () => {
  it('places the order at the checkout quote of the same lines: one reservation committed, one charge of the total, one order', async () => {
    const input = cart();
    const before = books();
    const quote = await stack.gql(OPERATIONS.CheckoutQuote, { lines: input.lines, country: 'US', postcode: '10001' });
    const r = await stack.gql(OPERATIONS.PlaceOrder, { input }, user1);
    expect(r.body.errors).toBeUndefined();
    const order = r.body.data.placeOrder.order;
    expect(order.status).toBe('PLACED');
    const q = quote.body.data.checkoutQuote;
    expect({ subtotal: order.subtotal, shipping: order.shipping, tax: order.tax, total: order.total }).toEqual({ subtotal: q.subtotal, shipping: q.shipping, tax: q.tax, total: q.total });
    expect(order.lines.map((l: any) => [l.product.id, l.product.title, l.quantity, l.unitPrice, l.lineTotal])).toEqual(
      q.lines.map((l: any) => [l.product.id, l.product.title, l.quantity, l.unitPrice, l.lineTotal]),
    );
    expect(order.lines[0].product.title).toBe(productById.get(1)!.title);
    const after = books();
    expect(after.orders.length - before.orders.length).toBe(1);
    expect(after.charges.length - before.charges.length).toBe(1);
    const charge = after.charges.at(-1)!;
    expect(charge.amountCents).toBe(Math.round(Number(q.total.amount) * 100));
    expect(charge.refunded).toBe(false);
    expect(after.reservations.at(-1)!.status).toBe('COMMITTED');
    expect(after.orders.at(-1)!.id).toBe(order.id);
    expect(String(after.orders.at(-1)!.userId)).toBe('1');
  });

  it('refuses a client that cannot read the answer (Accept: text/html; @defer without a stream type) before any side effect', async () => {
    const calls = () => ['catalog', 'inventory', 'payments', 'orders'].reduce((n, u) => n + stack.sandbox.upstream(u).stats().total, 0);
    const before = calls();
    const send = async (query: string, accept: string) => {
      const res = await fetch(`${stack.url}/graphql`, { method: 'POST', headers: { ...user1, 'content-type': 'application/json', accept }, body: JSON.stringify({ query, variables: { input: cart() } }) });
      return { status: res.status, body: (await res.json()) as any };
    };
    const html = await send(OPERATIONS.PlaceOrder, 'text/html');
    expect(html.status).toBe(406);
    expect(html.body.errors[0].extensions.code).toBe('NOT_ACCEPTABLE');
    const deferred = await send('mutation P($input: PlaceOrderInput!) { placeOrder(input: $input) { ... @defer { order { id } } } }', 'application/json');
    expect(deferred.status).toBe(406);
    expect(deferred.body.errors[0].extensions).toMatchObject({ code: 'NOT_ACCEPTABLE', requestId: expect.any(String) });
    expect(calls()).toBe(before);
    expect(writesReceived()).toBe(0);
  });

  it('answers the same key and input again with the same order, without a second side effect, also concurrently', async () => {
    const input = cart();
    const first = await stack.gql(OPERATIONS.PlaceOrder, { input }, user1);
    const writes = writesReceived();
    const before = books();
    const again = await Promise.all(Array.from({ length: 5 }, () => stack.gql(OPERATIONS.PlaceOrder, { input }, user1)));
    for (const r of again) expect(r.body.data.placeOrder.order).toEqual(first.body.data.placeOrder.order);
    expect(writesReceived()).toBe(writes);
    expect(books()).toEqual(before);

    const concurrent = cart();
    const answers = await Promise.all(Array.from({ length: 6 }, () => stack.gql(OPERATIONS.PlaceOrder, { input: concurrent }, user1)));
    const ids = new Set(answers.map((r) => r.body.data.placeOrder.order?.id));
    expect(ids.size).toBe(1);
    expect(books().charges.length - before.charges.length).toBe(1);
    expect(books().orders.length - before.orders.length).toBe(1);
  });

  it('leaves no listener behind on the runner: 12 orders, each of 5 calls, and no listener leak warned', async () => {
    // A gateway of its own: node warns once per signal, and this runner's has not warned yet.
    const own = await startStack({ sandbox: { latencyMs: { catalog: 0, pricing: 0, inventory: 0, shipping: 0, tax: 0, payments: 0, orders: 0, accounts: 0 } } });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      for (let i = 0; i < 12; i++) expect((await own.gql(OPERATIONS.PlaceOrder, { input: cart() }, user1)).body.data.placeOrder.order).toBeTruthy();
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.includes('MaxListenersExceeded'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await own.close();
    }
  });

  it('refuses the same key with another input (IDEMPOTENCY_KEY_REUSED); keys are per user', async () => {
    const input = cart();
    const first = await stack.gql(OPERATIONS.PlaceOrder, { input }, user1);
    const before = books();
    const reused = await stack.gql(OPERATIONS.PlaceOrder, { input: { ...input, lines: [{ productId: '1', quantity: 3 }] } }, user1);
    expect(reused.body.data.placeOrder.order).toBeNull();
    expect(reused.body.errors[0].extensions.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(books()).toEqual(before);
    // User 2's identical key is user 2's own checkout.
    const other = await stack.gql(OPERATIONS.PlaceOrder, { input }, user2);
    expect(other.body.errors).toBeUndefined();
    expect(other.body.data.placeOrder.order.id).not.toBe(first.body.data.placeOrder.order.id);
  });

  it('refuses before any side effect: anonymous (UNAUTHENTICATED), a bad line (BAD_USER_INPUT), out of stock (OUT_OF_STOCK naming the line)', async () => {
    const before = books();
    const anonymous = await stack.gql(OPERATIONS.PlaceOrder, { input: cart() });
    expect(anonymous.body.data.placeOrder.order).toBeNull();
    expect(anonymous.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const missing = await stack.gql(OPERATIONS.PlaceOrder, { input: cart({ lines: [{ productId: '1', quantity: 1 }, { productId: '99999', quantity: 1 }] }) }, user1);
    expect(missing.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', line: 1 });
    const zero = await stack.gql(OPERATIONS.PlaceOrder, { input: cart({ lines: [{ productId: '1', quantity: 0 }] }) }, user1);
    expect(zero.body.errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', line: 0 });
    expect(writesReceived()).toBe(0);
    // More than is on hand: the reservation is refused, nothing else is sent.
    const stock = productById.get(6)!.stock;
    const out = await stack.gql(OPERATIONS.PlaceOrder, { input: cart({ lines: [{ productId: '1', quantity: 1 }, { productId: '6', quantity: stock + 1 }] }) }, user1);
    expect(out.body.data.placeOrder.order).toBeNull();
    expect(out.body.errors[0].extensions).toMatchObject({ code: 'OUT_OF_STOCK', line: 1 });
    const after = books();
    expect(after.charges).toEqual(before.charges);
    expect(after.orders).toEqual(before.orders);
  });

  it('a declined card: PAYMENT_DECLINED, the reservation released before the answer, nothing charged', async () => {
    const before = books();
    const r = await stack.gql(OPERATIONS.PlaceOrder, { input: cart({ paymentToken: 'tok_declined' }) }, user1);
    expect(r.body.data.placeOrder.order).toBeNull();
    expect(r.body.errors[0].extensions.code).toBe('PAYMENT_DECLINED');
    const after = books();
    expect(after.charges).toEqual(before.charges);
    expect(after.orders).toEqual(before.orders);
    expect(after.reservations.length - before.reservations.length).toBe(1);
    expect(after.reservations.at(-1)!.status).toBe('RELEASED');
  });

  it('the orders upstream failing for good: ORDER_FAILED naming it, the charge refunded and the stock released before the answer', async () => {
    stack.sandbox.upstream('orders').setFaults({ error: { probability: 1, status: 500 }, routes: ['POST /orders'] });
    const before = books();
    const r = await stack.gql(OPERATIONS.PlaceOrder, { input: cart() }, user1);
    expect(r.body.data.placeOrder.order).toBeNull();
    expect(r.body.errors[0].extensions).toMatchObject({ code: 'ORDER_FAILED', upstream: 'orders' });
    const after = books();
    expect(after.orders).toEqual(before.orders);
    expect(after.charges.length - before.charges.length).toBe(1);
    expect(after.charges.at(-1)!.refunded).toBe(true);
    expect(after.reservations.at(-1)!.status).toBe('RELEASED');
  });

  it('a charge whose answer was lost is not charged twice: the call is sent again with the same key', async () => {
    stack.sandbox.upstream('payments').setFaults({ afterEffect: { probability: 1, outcome: 'error', status: 500 }, routes: ['POST /v1/charges'], times: 1 });
    const before = books();
    const r = await stack.gql(OPERATIONS.PlaceOrder, { input: cart() }, user1);
    expect(r.body.errors).toBeUndefined();
    const after = books();
    expect(after.charges.length - before.charges.length).toBe(1);
    const keys = (stack.sandbox.upstream('payments').records().idempotencyKeys as { route: string; applied: number; replays: number }[]).filter((k) => k.route === 'POST /v1/charges');
    expect(keys.every((k) => k.applied === 1)).toBe(true);
    expect(keys.at(-1)!.replays).toBeGreaterThanOrEqual(1);
  });

  it("every step is in the request's trace, each write with its idempotency key's hash, never the key", async () => {
    const input = cart();
    const r = await stack.gql(OPERATIONS.PlaceOrder, { input }, { ...user1, 'x-request-id': `placeorder-trace-${seq}` });
    expect(r.body.errors).toBeUndefined();
    const trace = await fetch(`${stack.url}/traces/placeorder-trace-${seq}`, { headers: { accept: 'application/json' } });
    const text = await trace.text();
    expect(trace.status).toBe(200);
    const calls = (JSON.parse(text) as { calls: { upstream: string; endpoint: string; idempotencyKeyHash?: string }[] }).calls;
    const writes = calls.filter((c) => c.idempotencyKeyHash);
    expect(writes.map((c) => `${c.upstream}.${c.endpoint}`)).toEqual(['inventory.reserve', 'payments.charge', 'orders.create', 'inventory.commitReservation']);
    expect(new Set(writes.map((c) => c.idempotencyKeyHash)).size).toBe(4);
    // The keys the upstreams received are not in the trace.
    const sent = (stack.sandbox.upstream('payments').records().idempotencyKeys as { key: string }[]).map((k) => k.key);
    for (const k of sent) expect(text).not.toContain(k);
    expect(text).not.toContain(input.idempotencyKey);
    expect(text).not.toContain('tok_visa');
  });

  it('/metrics counts workflow outcomes and step calls', async () => {
    const metric = (text: string, name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    const before = await (await fetch(`${stack.url}/metrics`)).text();
    await stack.gql(OPERATIONS.PlaceOrder, { input: cart() }, user1);
    await stack.gql(OPERATIONS.PlaceOrder, { input: cart({ paymentToken: 'tok_declined' }) }, user1);
    const after = await (await fetch(`${stack.url}/metrics`)).text();
    const diff = (name: string, labels: string) => metric(after, name, labels) - metric(before, name, labels);
    expect(diff('tributary_workflow_outcomes_total', 'workflow="placeOrder",outcome="completed",code=""')).toBe(1);
    expect(diff('tributary_workflow_outcomes_total', 'workflow="placeOrder",outcome="refused",code="PAYMENT_DECLINED"')).toBe(1);
    expect(diff('tributary_workflow_steps_total', 'workflow="placeOrder",step="charge",kind="forward",result="refused"')).toBe(1);
    expect(diff('tributary_workflow_steps_total', 'workflow="placeOrder",step="reserve",kind="compensate",result="done"')).toBe(1);
    expect(diff('tributary_workflow_steps_total', 'workflow="placeOrder",step="commitStock",kind="forward",result="done"')).toBe(1);
    // The log's round trips: one instance each; a step's intent written before its call, its `done` with the
    // log's next write (the next intent, or the outcome). The placed order: 4 intents, then the last done
    // with the outcome; the declined one: reserve's and charge's intents, charge refused, the instance
    // compensating, the release's intent, then its done with the outcome.
    expect(diff('tributary_workflow_log_calls_total', 'operation="create"')).toBe(2);
    expect(diff('tributary_workflow_log_calls_total', 'operation="record"')).toBe(5 + 5);
    expect(diff('tributary_workflow_log_calls_total', 'operation="update"')).toBe(0 + 1);
    // A new instance's steps are never read back (it has none).
    expect(diff('tributary_workflow_log_calls_total', 'operation="steps"')).toBe(0);
  });

  it('/admin/workflows lists what was undone, with key hashes only; refuses without the admin token or with a bad view', async () => {
    const input = cart({ paymentToken: 'tok_declined' });
    const r = await stack.gql(OPERATIONS.PlaceOrder, { input }, user1);
    expect(r.body.errors[0].extensions.code).toBe('PAYMENT_DECLINED');
    const admin = (path: string, token = ADMIN_TOKEN) => fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect((await admin('/admin/workflows', 'wrong')).status).toBe(401);
    expect((await fetch(`${stack.url}/admin/workflows`)).status).toBe(401);
    const bad = await admin('/admin/workflows?view=everything');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.code).toBe('BAD_REQUEST');
    expect((await admin('/admin/workflows?limit=100000')).status).toBe(400);
    expect((await admin(`/admin/workflows/${'x'.repeat(500)}`)).status).toBe(400);
    expect((await admin('/admin/workflows/no-such-instance')).status).toBe(404);
    const res = await admin('/admin/workflows?view=compensated&workflow=placeOrder');
    const text = await res.text();
    const listed = JSON.parse(text) as { count: number; workflows: any[] };
    const mine = listed.workflows.find((w) => w.outcome?.code === 'PAYMENT_DECLINED' && w.userId === '1');
    expect(mine).toMatchObject({ workflow: 'placeOrder', status: 'refused', attempts: 1, stuck: false, outcome: { status: 'refused', code: 'PAYMENT_DECLINED', step: 'charge', compensated: ['reserve'] } });
    expect(mine.clientKeyHash).toMatch(/^[0-9a-f]{16}$/);
    expect(text).not.toContain(input.idempotencyKey);
    expect(text).not.toContain('tok_declined');
    const one = (await (await admin(`/admin/workflows/${mine.id}`)).json()) as any;
    expect(one.steps.map((st: any) => [st.step, st.kind, st.state])).toEqual([
      ['reserve', 'forward', 'done'],
      ['charge', 'forward', 'refused'],
      ['reserve', 'compensate', 'done'],
    ]);
    expect(JSON.stringify(one)).not.toContain('tok_declined');
    expect(new Set(one.steps.map((st: any) => st.idempotencyKeyHash)).size).toBe(3);
  });

  it("viewer.orders reads the signed-in user's orders back, newest first", async () => {
    const a = await stack.gql(OPERATIONS.PlaceOrder, { input: cart({ lines: [{ productId: '2', quantity: 1 }] }) }, user2);
    const b = await stack.gql(OPERATIONS.PlaceOrder, { input: cart({ lines: [{ productId: '3', quantity: 4 }] }) }, user2);
    const r = await stack.gql('{ viewer { orders(first: 2) { id total { amount } lines { product { id title } quantity unitPrice { amount } } } } }', {}, user2);
    expect(r.body.errors).toBeUndefined();
    const orders = r.body.data.viewer.orders;
    expect(orders.map((o: any) => o.id)).toEqual([b.body.data.placeOrder.order.id, a.body.data.placeOrder.order.id]);
    expect(orders[0].lines).toEqual([{ product: { id: '3', title: productById.get(3)!.title }, quantity: 4, unitPrice: b.body.data.placeOrder.order.lines[0].unitPrice.amount ? { amount: b.body.data.placeOrder.order.lines[0].unitPrice.amount } : null }]);
    expect(orders[0].total).toEqual({ amount: b.body.data.placeOrder.order.total.amount });
  });
});

describe('who may write', () => {
  it('an API client without the write permission is refused (FORBIDDEN) and nothing is written; one with it places the order', async () => {
    const CLIENTS = JSON.stringify([
      { name: 'partner', keySha256: hashApiKey('partner-key'), permissions: [], operations: 'any' },
      { name: 'checkout', keySha256: hashApiKey('checkout-key'), permissions: ['write'], operations: 'any' },
    ]);
    const s = await startStack({ env: { CLIENTS } });
    try {
      const partner = await s.gql(OPERATIONS.PlaceOrder, { input: cart() }, { ...user1, 'x-api-key': 'partner-key' });
      expect(partner.body.errors[0].extensions).toMatchObject({ code: 'FORBIDDEN', permission: 'write' });
      const received = ['inventory', 'payments', 'orders'].reduce((n, u) => n + s.sandbox.upstream(u).stats().total, 0);
      expect(received).toBe(0);
      const checkout = await s.gql(OPERATIONS.PlaceOrder, { input: cart() }, { ...user1, 'x-api-key': 'checkout-key' });
      expect(checkout.body.errors).toBeUndefined();
      expect(checkout.body.data.placeOrder.order.status).toBe('PLACED');
    } finally {
      await s.close();
    }
  });
});

describe('placeOrder when a call was applied, its answer lost, and the retry met an error status', () => {
  let s: Stack;
  beforeAll(async () => {
    // Recovery looks often and takes back what a drive left in doubt at once: the test waits for conditions, not periods.
    s = await startStack({ sandbox: { latencyMs: { catalog: 0, pricing: 0, inventory: 0, shipping: 0, tax: 0, payments: 0, orders: 0, accounts: 0 } }, start: { workflowRunner: { recoverEveryMs: 100, inDoubtRetryMs: 0 } } });
  });
  afterAll(async () => s?.close());

  it('does not take the 503 as "not applied": the step is sent again with its key until the upstream answers what it did, and the order goes through', async () => {
    const inventory = s.sandbox.upstream('inventory');
    const reservations = () => (inventory.records() as unknown as { reservations: { status: string; idempotencyKey: string }[] }).reservations;
    const before = reservations().length;
    let reserves = 0;
    // The first reservation is applied and its answer lost (a reset); the next 6 sends of it meet a 503 in front of the handler.
    const off = inventory.onRecord((e) => {
      if (e.method !== 'POST' || e.path !== '/reservations') return;
      reserves++;
      if (reserves === 1) inventory.setFaults({ afterEffect: { probability: 1, outcome: 'reset' }, routes: ['POST /reservations'], times: 1 });
      else if (reserves === 2) inventory.setFaults({ error: { probability: 1, status: 503 }, routes: ['POST /reservations'], times: 6 });
    });
    try {
      const input = cart();
      let answer = await s.gql(OPERATIONS.PlaceOrder, { input }, user1);
      // Left in doubt by the first drive, it is finished by recovery: the same key answers it.
      for (let i = 0; i < 200 && answer.body.errors?.[0]?.extensions?.code === 'WORKFLOW_IN_DOUBT'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        answer = await s.gql(OPERATIONS.PlaceOrder, { input }, user1);
      }
      expect(answer.body.errors, JSON.stringify(answer.body.errors)).toBeUndefined();
      expect(answer.body.data.placeOrder.order.status).toBe('PLACED');
      expect(reserves).toBeGreaterThanOrEqual(3);
      // One reservation (the first send's), committed by the order: nothing held without an order.
      const mine = reservations().slice(before);
      expect(mine.map((r) => r.status)).toEqual(['COMMITTED']);
    } finally {
      off();
      inventory.setFaults(null);
    }
  });
});
