/**
 * Replicas of the workflow engine: with separate embedded logs, client keys are claimed in the real
 * Redis (two replicas never both run one key; the other answers the published outcome); over one log,
 * leases fence a slow owner out once another replica claimed its instance; finished instances are kept
 * for the retention (24 h) and purged after it. Time is a fake clock.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisClient, type RedisClient } from '../src/redis.js';
import {
  createWorkflowRunner,
  isIdempotencyKeyReused,
  redisKeyClaims,
  type WorkflowEvents,
  type WorkflowRunner,
  type WorkflowRunnerOptions,
} from '../src/workflow/index.js';
import { eventually } from './support/wait.js';
import { checkout, shopInvoke, startShop, type CheckoutInput, type Shop } from './support/workflow-shop.js';
import { storeSpot, type StoreSpot } from './support/workflow-stores.js';

let shop: Shop;
let redis: RedisClient;
const redisPrefix = `tributary-test:${process.pid}:${Date.now()}:`;
const spots: StoreSpot[] = [];
const runners: WorkflowRunner[] = [];

beforeAll(async () => {
  shop = await startShop();
  const r = redisClient('redis://127.0.0.1:6379');
  await r.connected;
  redis = r.client;
});
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.close()));
});
afterAll(async () => {
  for await (const keys of redis.scanIterator({ MATCH: `${redisPrefix}*` })) if (keys.length) await redis.del(keys);
  redis.destroy();
  await Promise.all(spots.map((s) => s.drop()));
  await shop.close();
});

let n = 0;
const input = (): CheckoutInput => ({ ref: `replica-${process.pid}-${++n}`, items: [{ sku: 'sku-1', quantity: 1 }], source: 'tok_visa' });
const DAY = 24 * 3_600_000;

async function replica(spot: StoreSpot, over: Partial<WorkflowRunnerOptions> = {}) {
  const r = createWorkflowRunner({ workflows: [checkout], store: spot.open(), invoke: shopInvoke(shop.url), redrive: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 }, ...over });
  runners.push(r);
  await r.start();
  return r;
}

describe('replicas with separate embedded logs and Redis', () => {
  it('runs a key sent to both at once once, and both answer its outcome; another input is refused on either', async () => {
    const [a, b] = [storeSpot('sqlite'), storeSpot('sqlite')];
    spots.push(a, b);
    const claims = redisKeyClaims(redis, { retentionMs: DAY, prefix: redisPrefix });
    const ra = await replica(a, { claims });
    const rb = await replica(b, { claims });
    const order = input();
    const outcomes = await Promise.all([
      ra.run('checkout', { input: order, userId: 'u1', clientKey: 'same' }),
      rb.run('checkout', { input: order, userId: 'u1', clientKey: 'same' }),
      rb.run('checkout', { input: order, userId: 'u1', clientKey: 'same' }),
    ]);
    expect(new Set(outcomes.map((o) => JSON.stringify(o))).size).toBe(1);
    expect(outcomes[0]!.status).toBe('completed');
    expect(shop.books(order.ref)).toEqual({ reserved: 1, released: 0, charged: 1, refunded: 0, ordered: 1, committed: 1 });
    // Exactly one of the two logs holds the instance.
    const held = [(await ra.list('all')).length, (await rb.list('all')).length];
    expect(held.sort()).toEqual([0, 1]);
    for (const r of [ra, rb]) {
      const e = await r.run('checkout', { input: { ...order, source: 'tok_other' }, userId: 'u1', clientKey: 'same' }).catch((x: unknown) => x);
      expect(isIdempotencyKeyReused(e)).toBe(true);
    }
    // Scoped per user: the same key for another user is its own instance.
    const other = await rb.run('checkout', { input: order, userId: 'u2', clientKey: 'same' });
    expect(other.instanceId).not.toBe(outcomes[0]!.instanceId);
  });
});

describe('one shared log', () => {
  it('fences out an owner whose lease passed: the claimant undoes it, the first caller answers that outcome', async () => {
    const spot = storeSpot('postgres');
    spots.push(spot);
    // The claimant's clock is ahead of the slow owner's: from where it stands, that lease has passed.
    const slow = await replica(spot);
    const other = await replica(spot, { now: () => Date.now() + 60_000, recoverEveryMs: 900_000 });
    const lost: WorkflowEvents['leaseLost'][] = [];
    slow.on('leaseLost', (e) => lost.push(e));
    const order = input();
    const charges = () => shop.requests.filter((q) => q.route === 'charge').length;
    const before = charges();
    shop.fault('charge', { hold: true });
    const first = slow.run('checkout', { input: order, userId: 'u1', clientKey: 'slow' });
    await eventually(() => shop.held.get('charge') === 1, 'charge held');
    expect(await other.recover()).toBe(1);
    // The claimant learns the maybe-applied charge with the same key, then undoes it (before the pivot).
    await eventually(() => charges() === before + 2, 're-driven charge');
    await eventually(() => shop.books(order.ref).released === 1, 'undone by the claimant');
    shop.release('charge');
    const outcome = await first;
    expect(outcome).toMatchObject({ status: 'failed', code: 'WORKFLOW_INTERRUPTED', compensated: ['charge', 'reserve'] });
    expect(lost).toHaveLength(1);
    expect(shop.books(order.ref)).toEqual({ reserved: 1, released: 1, charged: 1, refunded: 1, ordered: 0, committed: 0 });
  });

  it('keeps finished instances (and so client keys) for 24 h, then purges them', async () => {
    const spot = storeSpot('sqlite');
    spots.push(spot);
    const store = spot.open();
    let now = Date.now();
    const r = await replica(spot, { now: () => now, store });
    const order = input();
    const first = await r.run('checkout', { input: order, userId: 'u1', clientKey: 'kept' });
    now += DAY - 1;
    expect(await store.purge(now - DAY)).toBe(0);
    expect(await r.run('checkout', { input: order, userId: 'u1', clientKey: 'kept' })).toEqual(first);
    now += 2;
    expect(await store.purge(now - DAY)).toBe(1);
    expect(() => createWorkflowRunner({ workflows: [checkout], store, invoke: shopInvoke(shop.url), retentionMs: DAY - 1 })).toThrow(
      'Workflow runner option retentionMs (client keys are kept at least 24 h) must be a number >= 86400000, but received: 86399999',
    );
  });

  it('lists instances in flight and stuck for the admin route, and renews the leases it holds', async () => {
    const spot = storeSpot('sqlite');
    spots.push(spot);
    let now = Date.now();
    const r = await replica(spot, { now: () => now, leaseMs: 1_000, renewEveryMs: 10 });
    const order = input();
    shop.fault('order', { hold: true });
    const running = r.run('checkout', { input: order, userId: 'u1', clientKey: 'listed' });
    await eventually(() => shop.held.get('order') === 1, 'order held');
    const [inFlight] = await r.list('in-flight');
    expect(inFlight).toMatchObject({ status: 'running', owner: r.owner });
    // Time passes beyond the first lease; the renewals keep it: nothing is stuck, nobody may claim it.
    now += 5_000;
    await eventually(async () => (await r.inspect(inFlight!.id))!.instance.leaseUntil > now, 'lease renewed');
    expect(await r.list('stuck')).toEqual([]);
    shop.release('order');
    expect((await running).status).toBe('completed');
    expect(await r.list('in-flight')).toEqual([]);
    expect((await r.list('completed')).map((i) => i.id)).toEqual([inFlight!.id]);
  });

  it('hands its instances back when it closes: another runner takes them at once and re-drives the cut call', async () => {
    const spot = storeSpot('postgres');
    spots.push(spot);
    const a = await replica(spot, { recoverEveryMs: 900_000 });
    const b = await replica(spot, { recoverEveryMs: 900_000 });
    const order = input();
    shop.fault('order', { hold: true });
    const cut = a.run('checkout', { input: order, userId: 'u1', clientKey: 'handed' }).catch((e: unknown) => e);
    await eventually(() => shop.held.get('order') === 1, 'order held');
    await a.close();
    expect(await cut).toMatchObject({ code: 'WORKFLOW_RUNNER_CLOSED' });
    // The lease (15 s by default) has not passed: only the hand-back lets b claim it now.
    expect(await b.recover()).toBe(1);
    shop.release('order');
    await eventually(async () => (await b.list('in-flight')).length === 0, 'finished by b');
    const outcome = await b.run('checkout', { input: order, userId: 'u1', clientKey: 'handed' });
    // The order was maybe applied when a closed: b learnt it with the same key, so it went forward.
    expect(outcome.status).toBe('completed');
    expect(shop.books(order.ref)).toEqual({ reserved: 1, released: 0, charged: 1, refunded: 0, ordered: 1, committed: 1 });
  });
});
