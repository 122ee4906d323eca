/**
 * Resilience policies under injected faults, through the whole gateway and real sandbox servers.
 * Assertions are counts and states (calls received, breaker transitions), never durations.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EngineEvents } from '../src/connector/index.js';
import { startStack, type Stack } from './support/stack.js';
import { products } from './support/expected.js';
import { eventually } from './support/wait.js';

const AVAILABILITY = 'query Availability($id: ID!) { product(id: $id) { id availability { status } } }';

/** Run `total` queries with at most `concurrency` in flight. */
async function load<T>(total: number, concurrency: number, run: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(total);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        out[i] = await run(i);
      }
    }),
  );
  return out;
}

const ids = products.map((p) => String(p.id));

describe('retries under a 503 rate', () => {
  let stack: Stack;
  // A fresh gateway per run: the retry budget counts a window of recent traffic, and each run must be
  // judged on its own calls.
  beforeEach(async () => {
    // Cache off: every query needs its own inventory call, so nothing hides the faults.
    stack = await startStack({
      env: { CACHE: 'off', HEDGING: 'off' },
      sandbox: { latencyMs: { catalog: 1, inventory: 1 } },
    });
  });
  afterEach(async () => {
    await stack?.close();
  });

  it('10% of inventory calls fail: every query returns, >=99% have availability, <=1.25x the calls', async () => {
    stack.sandbox.upstream('inventory').setFaults({ error: { probability: 0.1, status: 503 } });
    stack.resetStats();
    const results = await load(1000, 20, (i) => stack.gql(AVAILABILITY, { id: ids[i % ids.length] }));
    expect(results.every((r) => r.status === 200 && r.body.data?.product?.id)).toBe(true);
    const withAvailability = results.filter((r) => r.body.data.product.availability !== null).length;
    expect(withAvailability).toBeGreaterThanOrEqual(990);
    const calls = stack.sandbox.upstream('inventory').stats().total;
    expect(calls).toBeGreaterThan(1000); // some retries happened
    expect(calls).toBeLessThanOrEqual(1250);
  });

  it.each([0.3, 1])('%s of inventory calls fail: every query returns, and the budget bounds the load at 1.25x', async (p) => {
    stack.sandbox.upstream('inventory').setFaults({ error: { probability: p, status: 503 } });
    stack.resetStats();
    const results = await load(1000, 20, (i) => stack.gql(AVAILABILITY, { id: ids[(i * 7) % ids.length] }));
    expect(results.every((r) => r.status === 200 && r.body.data?.product?.id)).toBe(true);
    const failed = results.filter((r) => r.body.data.product.availability === null);
    for (const r of failed) expect(r.body.errors[0].extensions.upstream).toBe('inventory');
    expect(stack.sandbox.upstream('inventory').stats().total).toBeLessThanOrEqual(1250);
  });
});

describe('circuit breaker', () => {
  let stack: Stack;
  const MIN_CALLS = 10;
  beforeAll(async () => {
    stack = await startStack({
      env: { CACHE: 'off', HEDGING: 'off' },
      sandbox: { latencyMs: { catalog: 1, inventory: 1, pricing: 1 } },
      start: {
        policyOverrides: {
          // One attempt per call, so every call the breaker sees is one the upstream received.
          inventory: { retry: { attempts: 1 }, breaker: { minimumCalls: MIN_CALLS, failureRatio: 0.5, windowMs: 30_000, halfOpenAfterMs: 250 } },
        },
      },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('opens within its minimum load, lets only single probes through, and closes on recovery', async () => {
    const events: string[] = [];
    const offState = stack.gateway.telemetry.on('breakerState', (e) => e.upstream === 'inventory' && events.push(`state:${e.state}`));
    const offAttempt = stack.gateway.telemetry.on('attempt', (e) => e.upstream === 'inventory' && events.push('attempt'));
    const query = 'query($id: ID!) { product(id: $id) { id price { sale { amount } } availability { status } } }';
    stack.sandbox.upstream('inventory').setFaults({ down: true });
    stack.resetStats();
    try {
      // Hard down: sequential queries until the breaker opens.
      let i = 0;
      while (!events.includes('state:open') && i < 100) {
        const r = await stack.gql(query, { id: ids[i++] });
        expect(r.body.data.product.price).not.toBeNull(); // pricing unaffected
        expect(r.body.data.product.availability).toBeNull();
      }
      expect(events).toContain('state:open');
      expect(stack.sandbox.upstream('inventory').stats().total).toBe(MIN_CALLS);

      // While open or half-open, only probes reach inventory: run queries until two probes have failed.
      let probes = 0;
      while (probes < 2 && i < 2_000) {
        const r = await stack.gql(query, { id: ids[i++ % ids.length] });
        expect(r.body.data.product.price).not.toBeNull();
        expect(r.body.data.product.availability).toBeNull();
        expect(r.body.errors[0].extensions.code).toBe('UPSTREAM_UNAVAILABLE');
        probes = events.filter((e) => e === 'state:half-open').length;
        if (probes < 2) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(probes).toBe(2);

      // Recovery: the next probe succeeds and the breaker closes; availability comes back.
      stack.sandbox.upstream('inventory').setFaults(null);
      let recovered = false;
      while (!recovered && i < 4_000) {
        const r = await stack.gql(query, { id: ids[i++ % ids.length] });
        recovered = r.body.data.product.availability !== null;
        if (!recovered) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(recovered).toBe(true);
      expect(events.filter((e) => e.startsWith('state:')).at(-1)).toBe('state:closed');

      // Between opening and each half-open transition no attempt happened; each half-open let exactly one through.
      const afterOpen = events.slice(events.indexOf('state:open'));
      const segments = afterOpen.join(' ').split(/state:half-open/);
      expect(segments[0]).not.toContain('attempt');
      for (const seg of segments.slice(1)) expect(seg.match(/attempt/g)?.length).toBe(1);
      // The upstream saw exactly the minimum load, the probes, and the recovered call(s).
      const attempts = events.filter((e) => e === 'attempt').length;
      expect(stack.sandbox.upstream('inventory').stats().total).toBe(attempts);
    } finally {
      offState();
      offAttempt();
      stack.sandbox.upstream('inventory').setFaults(null);
    }
  });
});

describe('timeouts, deadlines and Retry-After', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: { CACHE: 'off', HEDGING: 'off', REQUEST_TIMEOUT_MS: '10000' },
      sandbox: { latencyMs: { catalog: 1, inventory: 1, pricing: 1, reviews: 1, recommendations: 1, shipping: 1 } },
      start: { policyOverrides: { inventory: { timeoutMs: 300 } } },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });
  afterEach(async () => {
    for (const u of Object.values(stack.sandbox.upstreams)) u.setFaults(null);
  });

  it('a hanging upstream: each attempt is abandoned at its timeout, the query ends with UPSTREAM_TIMEOUT, nothing is left in flight', async () => {
    stack.sandbox.upstream('inventory').setFaults({ hang: { probability: 1 } });
    stack.resetStats();
    const r = await stack.gql(AVAILABILITY, { id: '1' });
    expect(r.body.data.product.availability).toBeNull();
    expect(r.body.errors[0].extensions).toMatchObject({ code: 'UPSTREAM_TIMEOUT', upstream: 'inventory' });
    const reqs = stack.sandbox.upstream('inventory').stats().requests;
    expect(reqs.length).toBe(3); // the first attempt and two retries, each timed out
    // Every hanging request was closed by the gateway (the sandbox saw the socket end), none answered.
    await eventually(() => stack.sandbox.upstream('inventory').stats().requests.every((q) => q.end > 0));
    expect(stack.sandbox.upstream('inventory').stats().requests.every((q) => q.status === 0)).toBe(true);
    expect(stack.gateway.connector.inFlight('inventory')).toEqual({ executing: 0, queued: 0 });
  });

  it('the request deadline bounds retries: with a 400 ms deadline no attempt starts after it', async () => {
    stack.sandbox.upstream('inventory').setFaults({ hang: { probability: 1 } });
    stack.resetStats();
    const r = await stack.gql(AVAILABILITY, { id: '2' }, { 'x-request-timeout-ms': '400' });
    expect(r.body.errors[0].extensions.code).toBe('UPSTREAM_TIMEOUT');
    // 300 ms per attempt inside a 400 ms deadline: the first attempt, and at most one shortened retry.
    expect(stack.sandbox.upstream('inventory').stats().total).toBeLessThanOrEqual(2);
  });

  it('429 with Retry-After: the retry waits at least the time given', async () => {
    stack.sandbox.upstream('pricing').setFaults({ error: { probability: 1, status: 429, retryAfterS: 1 } });
    stack.resetStats();
    const r = await stack.gql('{ product(id: "1") { price { sale { amount } } } }');
    expect(r.body.errors[0].extensions).toMatchObject({ code: 'UPSTREAM_ERROR', upstream: 'pricing' });
    const reqs = stack.sandbox.upstream('pricing').stats().requests;
    expect(reqs.length).toBe(3);
    for (let i = 1; i < reqs.length; i++) expect(reqs[i]!.start - reqs[i - 1]!.end).toBeGreaterThanOrEqual(995);
  });

  it('a Retry-After beyond the deadline is not waited for', async () => {
    stack.sandbox.upstream('pricing').setFaults({ error: { probability: 1, status: 503, retryAfterS: 1 } });
    stack.resetStats();
    const r = await stack.gql('{ product(id: "1") { price { sale { amount } } } }', {}, { 'x-request-timeout-ms': '500' });
    expect(r.body.errors[0].extensions).toMatchObject({ code: 'UPSTREAM_ERROR', upstream: 'pricing' });
    expect(stack.sandbox.upstream('pricing').stats().total).toBe(1);
  });

  it('a Retry-After longer than the cap is not honoured by retrying', async () => {
    stack.sandbox.upstream('pricing').setFaults({ error: { probability: 1, status: 429, retryAfterS: 30 } });
    stack.resetStats();
    await stack.gql('{ product(id: "1") { price { sale { amount } } } }');
    expect(stack.sandbox.upstream('pricing').stats().total).toBe(1);
  });

  it('a client disconnect aborts its in-flight upstream calls', async () => {
    stack.sandbox.upstream('inventory').setFaults({ hang: { probability: 1 } });
    stack.resetStats();
    const ac = new AbortController();
    const pending = fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: AVAILABILITY, variables: { id: '3' } }),
      signal: ac.signal,
    }).catch(() => 'aborted');
    await eventually(() => stack.sandbox.upstream('inventory').stats().total === 1);
    expect(stack.sandbox.upstream('inventory').stats().requests[0]!.end).toBe(0); // still open
    ac.abort();
    expect(await pending).toBe('aborted');
    // The gateway closed the upstream call because the client left, long before its 300 ms timeout would matter:
    // there is exactly one request, closed, and no retry followed.
    await eventually(() => stack.sandbox.upstream('inventory').stats().requests[0]!.end > 0);
    expect(stack.sandbox.upstream('inventory').stats().total).toBe(1);
  });
});

describe('stale-if-error and stale-while-revalidate', () => {
  let stack: Stack;
  let offset = 0;
  beforeAll(async () => {
    stack = await startStack({
      env: { CACHE: 'on', HEDGING: 'off' },
      sandbox: { latencyMs: { catalog: 1, pricing: 1 } },
      start: { now: () => Date.now() + offset },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const PRICE = '{ product(id: "5") { price { sale { amount } } } }';

  it('serves the last good price when pricing is down after the value went stale', async () => {
    const first = await stack.gql(PRICE);
    expect(first.body.data.product.price.sale.amount).toBeTruthy();
    offset += 120_000; // past freshness (30 s) and stale-while-revalidate (30 s), within stale-if-error (10 min)
    await stack.sandbox.upstream('pricing').stop();
    try {
      stack.resetStats();
      const r = await stack.gql(PRICE, {}, { 'x-tributary-trace': '1' });
      expect(r.body.errors).toBeUndefined();
      expect(r.body.data.product.price.sale.amount).toBe(first.body.data.product.price.sale.amount);
      offset += 3_600_000; // past stale-if-error: now the failure shows
      const gone = await stack.gql(PRICE);
      expect(gone.body.data.product.price).toBeNull();
      expect(gone.body.errors[0].extensions.upstream).toBe('pricing');
    } finally {
      await stack.sandbox.upstream('pricing').start();
    }
  });

  it('within stale-while-revalidate, answers from cache at once and refreshes once in the background', async () => {
    const Q = '{ product(id: "6") { price { sale { amount } } } }';
    await stack.gql(Q);
    offset += 40_000; // stale (30 s) but within stale-while-revalidate (30 s more)
    stack.resetStats();
    const events: EngineEvents['cache'][] = [];
    const off = stack.gateway.telemetry.on('cache', (e) => e.upstream === 'pricing' && events.push(e));
    try {
      const answers = await Promise.all([stack.gql(Q), stack.gql(Q), stack.gql(Q)]);
      for (const a of answers) expect(a.body.data.product.price.sale.amount).toBeTruthy();
      expect(events.filter((e) => e.status === 'stale').length).toBeGreaterThanOrEqual(1);
      await eventually(() => stack.sandbox.upstream('pricing').stats().total >= 1);
      expect(stack.sandbox.upstream('pricing').stats().total).toBe(1); // one refresh for three requests
      const after = await stack.gql(Q);
      expect(after.body.data.product.price).not.toBeNull();
      expect(events.at(-1)!.status).toBe('hit');
    } finally {
      off();
    }
  });
});

