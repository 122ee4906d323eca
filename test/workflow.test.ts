/**
 * The workflow engine against real stores (a temporary SQLite file; the real PostgreSQL) and a real HTTP
 * upstream honouring Idempotency-Key: every assertion on effects reads the upstream's own books.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createWorkflowRunner,
  defineWorkflow,
  isIdempotencyKeyReused,
  isWorkflowInDoubt,
  stepKey,
  type WorkflowEvents,
  type WorkflowRunner,
  type WorkflowRunnerOptions,
} from '../src/workflow/index.js';
import { isTributaryError } from '../src/errors.js';
import { eventually } from './support/wait.js';
import { checkout, shopInvoke, startShop, type CheckoutInput, type Shop } from './support/workflow-shop.js';
import { storeSpot, type StoreKind, type StoreSpot } from './support/workflow-stores.js';

let shop: Shop;
beforeAll(async () => {
  shop = await startShop();
});
afterAll(() => shop.close());

let seq = 0;
const order = (over: Partial<CheckoutInput> = {}): CheckoutInput => ({
  ref: `ref-${process.pid}-${++seq}`,
  items: [{ sku: 'sku-1', quantity: 2 }],
  source: 'tok_visa',
  ...over,
});

describe.each<StoreKind>(['sqlite', 'postgres'])('workflow runner on %s', (kind) => {
  let spot: StoreSpot;
  const runners: WorkflowRunner[] = [];
  const runner = async (over: Partial<WorkflowRunnerOptions> = {}) => {
    const r = createWorkflowRunner({
      workflows: [checkout],
      store: spot.open(),
      invoke: shopInvoke(shop.url),
      redrive: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
      ...over,
    });
    runners.push(r);
    await r.start();
    return r;
  };
  beforeAll(() => {
    spot = storeSpot(kind);
  });
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.close()));
  });
  afterAll(() => spot.drop());

  it('runs every step once, each side effect with its derived key, and answers the result', async () => {
    const r = await runner();
    const seen: WorkflowEvents['stepStart'][] = [];
    r.on('stepStart', (e) => seen.push(e));
    const input = order();
    const outcome = await r.run('checkout', { input, userId: 'u1', clientKey: 'k-happy' });
    expect(outcome.status).toBe('completed');
    expect(shop.books(input.ref)).toEqual({ reserved: 1, released: 0, charged: 1, refunded: 0, ordered: 1, committed: 1 });
    const order_ = shop.effects.find((e) => e.route === 'order' && e.body.ref === input.ref)!;
    expect(outcome.status === 'completed' && outcome.output).toEqual({ orderId: order_.id });
    // The keys the upstream received are `<instance>:<step>`; the read carries none.
    const keys = shop.effects.filter((e) => e.body.ref === input.ref).map((e) => e.key);
    expect(keys).toEqual(['reserve', 'charge', 'order', 'commit'].map((s) => stepKey(outcome.instanceId, s, 'forward')));
    expect(seen.map((e) => [e.step, e.keyHash === undefined])).toEqual([
      ['quote', true],
      ['reserve', false],
      ['charge', false],
      ['order', false],
      ['commit', false],
    ]);
    const inspected = await r.inspect(outcome.instanceId);
    expect(inspected?.instance.status).toBe('completed');
    expect(inspected?.steps.map((s) => [s.step, s.kind, s.state])).toEqual(
      ['quote', 'reserve', 'charge', 'order', 'commit'].map((s) => [s, 'forward', 'done']),
    );
  });

  it('undoes applied side effects in reverse order when a step fails for good, before answering', async () => {
    const r = await runner();
    const turned: WorkflowEvents['compensating'][] = [];
    const ends: string[] = [];
    r.on('compensating', (e) => turned.push(e));
    r.on('stepEnd', (e) => ends.push(`${e.step}:${e.kind}:${e.result}`));
    const input = order();
    shop.fault('order', { status: 400 });
    const outcome = await r.run('checkout', { input, userId: 'u1', clientKey: 'k-fail' });
    expect(turned.map((e) => [e.instanceId, e.reason, e.recovered])).toEqual([[outcome.instanceId, 'STEP_FAILED', false]]);
    expect(ends).toEqual(['quote:forward:done', 'reserve:forward:done', 'charge:forward:done', 'order:forward:failed', 'charge:compensate:done', 'reserve:compensate:done']);
    expect(outcome).toMatchObject({ status: 'failed', code: 'STEP_FAILED', step: 'order', upstream: 'shop', endpoint: 'order', compensated: ['charge', 'reserve'] });
    expect(shop.books(input.ref)).toEqual({ reserved: 1, released: 1, charged: 1, refunded: 1, ordered: 0, committed: 0 });
    const mine = shop.effects.filter((e) => e.body.ref === input.ref);
    expect(mine.map((e) => e.route)).toEqual(['reserve', 'charge', 'refund', 'release']);
    expect(mine.slice(2).map((e) => e.key)).toEqual([stepKey(outcome.instanceId, 'charge', 'compensate'), stepKey(outcome.instanceId, 'reserve', 'compensate')]);
    expect((await r.list('compensated')).map((i) => i.id)).toContain(outcome.instanceId);
  });

  it('answers a declared refusal with its code, undoing what was applied before it', async () => {
    const r = await runner();
    const declined = order({ source: 'tok_declined' });
    const outcome = await r.run('checkout', { input: declined, userId: 'u1', clientKey: 'k-declined' });
    expect(outcome).toMatchObject({ status: 'refused', code: 'PAYMENT_DECLINED', step: 'charge', compensated: ['reserve'] });
    expect(shop.books(declined.ref)).toEqual({ reserved: 1, released: 1, charged: 0, refunded: 0, ordered: 0, committed: 0 });

    const none = order({ items: [{ sku: 'none', quantity: 1 }] });
    const refused = await r.run('checkout', { input: none, userId: 'u1', clientKey: 'k-stock' });
    expect(refused).toMatchObject({ status: 'refused', code: 'OUT_OF_STOCK', step: 'reserve', details: { sku: 'none' }, compensated: [] });
    expect(shop.books(none.ref)).toEqual({ reserved: 0, released: 0, charged: 0, refunded: 0, ordered: 0, committed: 0 });
  });

  it('re-drives a call whose outcome is unknown with the same key: applied once, then forward', async () => {
    const r = await runner();
    const retries: WorkflowEvents['stepRetry'][] = [];
    r.on('stepRetry', (e) => retries.push(e));
    const input = order();
    shop.fault('charge', { drop: true }); // applied, answer lost
    const outcome = await r.run('checkout', { input, userId: 'u1', clientKey: 'k-unknown' });
    expect(outcome.status).toBe('completed');
    expect(shop.books(input.ref)).toEqual({ reserved: 1, released: 0, charged: 1, refunded: 0, ordered: 1, committed: 1 });
    const chargeKey = stepKey(outcome.instanceId, 'charge', 'forward');
    expect(shop.requests.filter((q) => q.key === chargeKey)).toHaveLength(2);
    expect(retries.map((e) => e.step)).toEqual(['charge']);
  });

  it('stays in doubt while a call stays unknown, then the recovery loop undoes it once it can learn', async () => {
    let now = Date.now();
    const r = await runner({ now: () => now, inDoubtRetryMs: 1_000 });
    const input = order();
    shop.fault('charge', { status: 503, times: 6 }); // 3 calls while forward, 3 while learning before undoing
    const first = await r.run('checkout', { input, userId: 'u1', clientKey: 'k-doubt' }).catch((e: unknown) => e);
    expect(isWorkflowInDoubt(first)).toBe(true);
    expect(shop.books(input.ref)).toMatchObject({ reserved: 1, released: 0, charged: 0 });
    expect((await r.list('stuck')).map((i) => i.status)).toEqual(['compensating']);
    expect(await r.recover()).toBe(0); // handed back until inDoubtRetryMs passed

    now += 1_001;
    const outcomes: WorkflowEvents['outcome'][] = [];
    r.on('outcome', (e) => outcomes.push(e));
    expect(await r.recover()).toBe(1);
    const again = await r.run('checkout', { input, userId: 'u1', clientKey: 'k-doubt' });
    expect(again).toMatchObject({ status: 'failed', code: 'STEP_FAILED', step: 'charge', compensated: ['charge', 'reserve'] });
    expect(outcomes.map((e) => e.status)).toEqual(['failed']);
    // Learning re-drove the charge with its key (applied now), so it was refunded: the books balance.
    expect(shop.books(input.ref)).toEqual({ reserved: 1, released: 1, charged: 1, refunded: 1, ordered: 0, committed: 0 });
  });

  it('re-drives a call with the input logged with its intent, even when a newer definition builds another', async () => {
    let now = Date.now();
    const r1 = await runner({ now: () => now, inDoubtRetryMs: 1_000 });
    const input = order();
    shop.fault('charge', { status: 503, times: 6 });
    expect(isWorkflowInDoubt(await r1.run('checkout', { input, userId: 'u1', clientKey: 'k-deploy' }).catch((e: unknown) => e))).toBe(true);
    await r1.close();
    // The next deploy charges another amount for new instances; the one in flight keeps its first body.
    const v2 = defineWorkflow<CheckoutInput>({
      name: 'checkout',
      steps: checkout.groups.map(([s]) => (s!.name === 'charge' ? { ...s!, input: ({ input: i }: { input: CheckoutInput }) => ({ ref: i.ref, source: i.source, amountCents: 999 }) } : s!)),
    });
    now += 1_001;
    const r2 = await runner({ workflows: [v2], now: () => now });
    await eventually(async () => (await r2.list('in-flight')).length === 0, 'recovered');
    const charges = shop.effects.filter((e) => e.route === 'charge' && e.body.ref === input.ref);
    expect(charges.map((e) => e.body.amountCents)).toEqual([100]);
    expect(shop.books(input.ref)).toMatchObject({ charged: 1, refunded: 1, reserved: 1, released: 1 });
  });

  it('past the point of no return only drives forward: a failing later step is retried, never undone', async () => {
    let now = Date.now();
    const r = await runner({ now: () => now, inDoubtRetryMs: 1_000 });
    const input = order();
    shop.fault('commit', { status: 400, times: 3 });
    const first = await r.run('checkout', { input, userId: 'u1', clientKey: 'k-pivot' }).catch((e: unknown) => e);
    expect(isWorkflowInDoubt(first)).toBe(true);
    now += 1_001;
    expect(await r.recover()).toBe(1);
    const outcome = await r.run('checkout', { input, userId: 'u1', clientKey: 'k-pivot' });
    expect(outcome.status).toBe('completed');
    expect(shop.books(input.ref)).toEqual({ reserved: 1, released: 0, charged: 1, refunded: 0, ordered: 1, committed: 1 });
  });

  it('hands back an instance whose drive stopped on an unexpected error; the admin listing shows it stuck', async () => {
    let now = Date.now();
    let broken = true;
    const fragile = defineWorkflow<CheckoutInput>({
      name: 'fragile',
      steps: [
        checkout.steps[1]!,
        {
          ...checkout.steps[2]!,
          input: ({ input }) => {
            if (broken) throw new Error('input builder broke');
            return { ref: input.ref, source: input.source, amountCents: 1 };
          },
        },
      ],
    });
    const r = await runner({ workflows: [fragile], now: () => now, inDoubtRetryMs: 1_000 });
    const input = order();
    const first = await r.run('fragile', { input, userId: 'u1', clientKey: 'k-fragile' }).catch((e: unknown) => e);
    expect(isWorkflowInDoubt(first)).toBe(true);
    const [stuck] = await r.list('stuck');
    expect(stuck).toMatchObject({ status: 'running', owner: null, lastError: 'drive stopped: input builder broke' });
    // The step that succeeded before the drive stopped is logged done: never sent again.
    expect((await r.inspect(stuck!.id))!.steps.find((st) => st.step === 'reserve')).toMatchObject({ state: 'done', attempts: 1 });
    broken = false;
    now += 1_001;
    expect(await r.recover()).toBe(1);
    const outcome = await r.run('fragile', { input, userId: 'u1', clientKey: 'k-fragile' });
    // Recovered before any point of no return (this workflow has none): undone.
    expect(outcome).toMatchObject({ status: 'failed', code: 'WORKFLOW_INTERRUPTED', compensated: ['reserve'] });
    expect(shop.books(input.ref)).toMatchObject({ reserved: 1, released: 1, charged: 0 });
    expect(shop.requests.filter((q) => q.route === 'reserve' && q.key?.startsWith(stuck!.id))).toHaveLength(1);
    expect(await r.list('stuck')).toEqual([]);
  });

  it('a step of a parallel group is logged done as soon as it answers, while its sibling is held, and stays so when the runner closes', async () => {
    const parallel = defineWorkflow<CheckoutInput>({
      name: 'par-log',
      steps: [
        checkout.steps[0]!,
        { parallel: [{ ...checkout.steps[1]!, pivot: false }, { ...checkout.steps[2]!, input: ({ input }) => ({ ref: input.ref, source: input.source, amountCents: 1 }) }] },
        checkout.steps[3]!,
      ],
    });
    const r = await runner({ workflows: [parallel] });
    const input = order();
    shop.fault('reserve', { hold: true });
    try {
      const running = r.run('par-log', { input, userId: 'u1', clientKey: `kp-${seq}` }).catch((e: unknown) => e);
      await eventually(() => shop.books(input.ref).charged === 1 && shop.held.get('reserve') === 1, 'charge applied while reserve is held');
      const [inFlight] = await r.list('in-flight');
      await eventually(async () => (await r.inspect(inFlight!.id))!.steps.find((st) => st.step === 'charge')?.state === 'done', 'charge logged done');
      await r.close();
      await running;
      expect((await r.inspect(inFlight!.id))!.steps.find((st) => st.step === 'charge')).toMatchObject({ state: 'done', attempts: 1 });
    } finally {
      shop.release('reserve');
    }
  });

  it('binds a client key to its input and its user: same input → same outcome, another → IDEMPOTENCY_KEY_REUSED', async () => {
    const r = await runner();
    const input = order();
    const first = await r.run('checkout', { input, userId: 'u1', clientKey: 'k-reuse' });
    const before = shop.effects.length;
    // Key order does not change the input.
    const same = await r.run('checkout', { input: { source: input.source, items: input.items, ref: input.ref }, userId: 'u1', clientKey: 'k-reuse' });
    expect(same).toEqual(first);
    expect(shop.effects.length).toBe(before);
    const reused = await r.run('checkout', { input: { ...input, source: 'tok_other' }, userId: 'u1', clientKey: 'k-reuse' }).catch((e: unknown) => e);
    expect(isIdempotencyKeyReused(reused)).toBe(true);
    expect(isTributaryError(reused) && reused.code).toBe('IDEMPOTENCY_KEY_REUSED');
    // The same key for another user is another instance.
    const other = await r.run('checkout', { input, userId: 'u2', clientKey: 'k-reuse' });
    expect(other.instanceId).not.toBe(first.instanceId);
    expect(shop.books(input.ref).charged).toBe(2);
  });

  it('answers one outcome to the same key sent at once, to one runner and to two sharing the log', async () => {
    const a = await runner();
    const b = await runner();
    const input = order();
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).run('checkout', { input, userId: 'u1', clientKey: 'k-dup' })));
    expect(outcomes).toHaveLength(10);
    expect(new Set(outcomes.map((o) => JSON.stringify(o))).size).toBe(1);
    expect(outcomes[0]!.status).toBe('completed');
    expect(shop.books(input.ref)).toEqual({ reserved: 1, released: 0, charged: 1, refunded: 0, ordered: 1, committed: 1 });
  });

  it('runs a declared parallel group at once and undoes both of its steps', async () => {
    const parallel = defineWorkflow<CheckoutInput>({
      name: 'parallelCheckout',
      steps: [
        checkout.steps[0]!,
        { parallel: [{ ...checkout.steps[1]!, pivot: false }, { ...checkout.steps[2]!, input: ({ input }) => ({ ref: input.ref, source: input.source, amountCents: 1 }) }] },
        checkout.steps[3]!,
      ],
    });
    expect(parallel.groups.map((g) => g.map((s) => s.name))).toEqual([['quote'], ['reserve', 'charge'], ['order']]);
    const r = await runner({ workflows: [parallel] });
    const input = order();
    shop.fault('reserve', { hold: true });
    const running = r.run('parallelCheckout', { input, userId: 'u1', clientKey: 'k-par' });
    // The charge is applied while the reservation is still held: the two run at once.
    await eventually(() => shop.books(input.ref).charged === 1 && shop.held.get('reserve') === 1, 'charge applied while reserve is held');
    shop.fault('order', { status: 400 });
    shop.release('reserve');
    const outcome = await running;
    expect(outcome).toMatchObject({ status: 'failed', step: 'order', compensated: ['charge', 'reserve'] });
    expect(shop.books(input.ref)).toEqual({ reserved: 1, released: 1, charged: 1, refunded: 1, ordered: 0, committed: 0 });
  });
});

describe('defineWorkflow', () => {
  const step = { name: 'a', call: { upstream: 'u', endpoint: 'e' }, input: (): unknown => ({}) };
  const undo = { call: { upstream: 'u', endpoint: 'x' }, input: (): unknown => 1 };
  it.each([
    [{ name: 'w', steps: [] }, 'Workflow "w".steps must be a non-empty array of steps or { parallel: [steps] }, but received: []'],
    [{ name: 'w', steps: [step, step] }, `Workflow "w": each step's name must be unique (it is part of the idempotency key), but received: "a"`],
    [{ name: 'w', steps: [{ ...step, call: { upstream: 'u' } }] }, 'Workflow "w".steps[0] ("a").call must be an object { upstream: string, endpoint: string } naming the endpoint called, but received: {"upstream":"u"}'],
    [{ name: 'w', steps: [{ ...step, input: 1 }] }, 'Workflow "w".steps[0] ("a").input must be a function building the call input from { input, outputs }, but received: 1'],
    [{ name: 'w', steps: [{ ...step, sideEffect: false, compensate: undo }] }, 'Workflow "w".steps[0] ("a").compensate must be absent on a step without side effect (there is nothing to undo), but received: "{ call, input }"'],
    [{ name: 'w', steps: [{ parallel: [step] }] }, 'Workflow "w".steps[0].parallel must be an array of at least two steps, but received: [{"name":"a","call":{"upstream":"u","endpoint":"e"}}]'],
    [{ name: 'w', steps: [{ ...step, pivot: true }, { ...step, name: 'b', compensate: undo }] }, 'Workflow "w": step "b".compensate must be absent after the pivot step (the workflow is only driven forward past it), but received: "a compensation"'],
    [{ name: 'bad name', steps: [step] }, `A workflow's name must be a name matching /^[A-Za-z][A-Za-z0-9_-]*$/, but received: "bad name"`],
  ])('refuses a wrong definition with a message showing the value: %#', (def, message) => {
    expect(() => defineWorkflow(def as never)).toThrow(message);
  });

  it('lists what a workflow writes to (compensations included) for the perimeter map', () => {
    expect(checkout.writes).toEqual(['reserve', 'release', 'charge', 'refund', 'order', 'commit'].map((endpoint) => ({ upstream: 'shop', endpoint })));
    expect(checkout.calls[0]).toEqual({ upstream: 'shop', endpoint: 'quote' });
    expect(checkout.pivotGroup).toBe(3);
  });
});
