/**
 * The engine's policies on their own: a real Connector against real sandbox servers, with upstream
 * definitions written for the test (the engine knows no domain, so any definition will do).
 */
import { Type } from '@sinclair/typebox';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox, type StatsEntry } from '../sandbox/index.js';
import { Connector, MemoryStore, Telemetry, batchEndpoint, defineUpstream, singleEndpoint, type UpstreamDef } from '../src/connector/index.js';
import { products } from './support/expected.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ portBase: 0, seed: 7, latencyMs: { catalog: 20, inventory: 2, tax: 1, recommendations: 1 } });
});
afterAll(async () => {
  await sandbox?.close();
});
afterEach(() => {
  for (const u of Object.values(sandbox.upstreams)) {
    u.setFaults(null);
    u.resetStats();
  }
});

function connectorFor(defs: UpstreamDef[], cache: MemoryStore | null = null) {
  const telemetry = new Telemetry();
  const connector = new Connector({ upstreams: defs, env: {}, baseUrls: sandbox.urls, sandboxMode: true, cache, telemetry });
  const scope = (user: { id: string } | null = null) =>
    connector.scope({ requestId: 'test', user, deadline: performance.now() + 10_000 });
  return { connector, telemetry, scope };
}

/** Most requests that were in flight at once, from the upstream's own start and end times. */
function maxOverlap(reqs: readonly StatsEntry[]): number {
  const edges = reqs.flatMap((r) => [
    [r.start, 1],
    [r.end, -1],
  ]) as [number, number][];
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of edges) max = Math.max(max, (cur += d));
  return max;
}

const taxOrder = (retrySafe: boolean) =>
  defineUpstream({
    name: 'tax',
    baseUrlEnv: 'UPSTREAM_TAX_URL',
    auth: { scheme: 'basic', username: { env: 'TAX_USERNAME', sandboxDefault: 'sandbox-tax' }, password: { env: 'TAX_PASSWORD', sandboxDefault: 'sandbox-tax-password' } },
    policy: { timeoutMs: 300, retry: { attempts: 3, baseDelayMs: 1 }, breaker: false },
    endpoints: {
      quote: singleEndpoint({
        method: 'POST',
        retrySafe,
        request: (amount: number) => ({ path: '/v1/tax/quote', body: { country: 'US', postcode: '10001', amount } }),
        response: Type.Object({ rate: Type.Number(), tax: Type.Number() }),
        map: (b) => b.tax,
      }),
    },
  });

describe('non-idempotent calls', () => {
  it.each([
    ['503', { error: { probability: 1, status: 503 } }],
    ['a reset connection', { reset: { probability: 1 } }],
    ['a hang', { hang: { probability: 1 } }],
    ['malformed JSON', { malformed: { probability: 1 } }],
  ] as const)('a POST without a safe declaration is sent exactly once whatever fails (%s)', async (_, faults) => {
    const { connector, scope } = connectorFor([taxOrder(false)]);
    try {
      sandbox.upstreams.tax.setFaults(faults);
      await expect(scope().loader('tax', 'quote').load(100)).rejects.toMatchObject({ upstream: 'tax' });
      expect(sandbox.upstreams.tax.stats().total).toBe(1);
    } finally {
      await connector.close();
    }
  });

  it('the same POST declared retry-safe is retried', async () => {
    const { connector, scope } = connectorFor([taxOrder(true)]);
    try {
      sandbox.upstreams.tax.setFaults({ error: { probability: 1, status: 503 } });
      await expect(scope().loader('tax', 'quote').load(100)).rejects.toMatchObject({ code: 'UPSTREAM_ERROR' });
      expect(sandbox.upstreams.tax.stats().total).toBe(3);
    } finally {
      await connector.close();
    }
  });
});

const catalogDef = (maxConcurrency: number, maxQueue: number) =>
  defineUpstream({
    name: 'catalog',
    baseUrlEnv: 'UPSTREAM_CATALOG_URL',
    auth: { scheme: 'none' },
    policy: { maxConcurrency, maxQueue, breaker: false, retry: { attempts: 1 } },
    endpoints: {
      byId: singleEndpoint({
        method: 'GET',
        request: (id: string) => ({ path: '/products/:id', params: { id } }),
        response: Type.Object({ id: Type.Integer() }),
        map: (b) => b.id,
        notFoundIsNull: true,
      }),
    },
  });

describe('bulkhead', () => {
  it('never lets more than its limit be in flight to one upstream, and queues the rest', async () => {
    const { connector, scope } = connectorFor([catalogDef(3, 100)]);
    try {
      const ids = products.slice(0, 30).map((p) => String(p.id));
      const got = await scope().loader('catalog', 'byId').loadMany(ids);
      expect(got).toEqual(ids.map(Number));
      const reqs = sandbox.upstreams.catalog.stats().requests;
      expect(reqs).toHaveLength(30);
      expect(maxOverlap(reqs)).toBe(3); // the limit, and parallel up to it
    } finally {
      await connector.close();
    }
  });

  it('rejects at once past its queue, without calling the upstream', async () => {
    const { connector, scope, telemetry } = connectorFor([catalogDef(2, 3)]);
    let rejected = 0;
    telemetry.on('bulkheadRejected', () => rejected++);
    try {
      const ids = products.slice(0, 10).map((p) => String(p.id));
      const got = await scope().loader('catalog', 'byId').loadMany(ids);
      const errors = got.filter((g) => g instanceof Error) as (Error & { code: string })[];
      expect(errors).toHaveLength(5); // 2 running + 3 queued; the other 5 refused
      expect(errors.every((e) => e.code === 'UPSTREAM_UNAVAILABLE')).toBe(true);
      expect(rejected).toBe(5);
      expect(sandbox.upstreams.catalog.stats().total).toBe(5);
    } finally {
      await connector.close();
    }
  });
});

describe('hedging', () => {
  const inventoryDef = defineUpstream({
    name: 'inventory',
    baseUrlEnv: 'UPSTREAM_INVENTORY_URL',
    auth: { scheme: 'apiKey', header: 'X-Api-Key', key: { env: 'INVENTORY_API_KEY', sandboxDefault: 'sandbox-inventory-key' } },
    policy: { timeoutMs: 2_000, hedge: { delayMs: 80 }, breaker: false },
    endpoints: {
      stock: batchEndpoint({
        method: 'POST',
        retrySafe: true,
        maxBatchSize: 100,
        request: (skus: readonly string[]) => ({ path: '/stock/lookup', body: { skus } }),
        response: Type.Object({ items: Type.Array(Type.Object({ sku: Type.String(), onHand: Type.Integer() })) }),
        items: (b) => b.items,
        itemKey: (i: { sku: string; onHand: number }) => i.sku,
        map: (i) => i.onHand,
        cardinality: 'one',
      }),
    },
  });

  it('fires only for slow calls, the first answer wins, and the loser is aborted', async () => {
    const { connector, scope, telemetry } = connectorFor([inventoryDef]);
    let hedges = 0;
    telemetry.on('hedge', () => hedges++);
    sandbox.upstreams.inventory.setFaults({ spike: { probability: 0.3, ms: 400 } });
    try {
      // One call at a time, so each call's requests sit next to each other in the upstream's log.
      for (const p of products.slice(0, 30)) {
        expect(await scope().loader('inventory', 'stock').load(p.sku)).toBe(p.stock);
      }
      const reqs = sandbox.upstreams.inventory.stats().requests;
      const hedgeReqs = reqs.filter((r) => r.headers['x-tributary-hedge'] === '1');
      expect(hedges).toBe(hedgeReqs.length);
      expect(hedges).toBeGreaterThan(0);
      for (let i = 0; i < reqs.length; i++) {
        const r = reqs[i]!;
        if (r.headers['x-tributary-hedge'] === '1') continue;
        const next = reqs[i + 1];
        const hedged = next?.headers['x-tributary-hedge'] === '1';
        if (!hedged) {
          // Not hedged: it answered before the hedge delay.
          expect(r.status).toBe(200);
          expect(r.end - r.start).toBeLessThan(400);
        } else {
          // Hedged: the primary was slow (spiked), and exactly one of the pair was aborted (status 0).
          const statuses = [r.status, next!.status].sort();
          expect(statuses).toEqual([0, 200]);
        }
      }
    } finally {
      await connector.close();
    }
  });
});

describe('cache scope', () => {
  const undeclared = defineUpstream({
    name: 'recommendations',
    baseUrlEnv: 'UPSTREAM_RECOMMENDATIONS_URL',
    auth: { scheme: 'apiKey', header: 'X-Api-Key', key: { env: 'RECOMMENDATIONS_API_KEY', sandboxDefault: 'sandbox-recommendations-key' } },
    endpoints: {
      // Varies by user, but declares a public cache scope: must never be cached or shared.
      forProduct: singleEndpoint({
        method: 'GET',
        request: (productId: string, ctx) => ({ path: '/recommendations', query: { productId, userId: ctx.user?.id } }),
        response: Type.Object({ productIds: Type.Array(Type.Integer()) }),
        map: (b) => b.productIds,
        cache: { ttlMs: 60_000, scope: 'public' },
      }),
    },
  });

  it('an endpoint that varies by user without declaring it is never cached', async () => {
    const store = new MemoryStore({ maxEntries: 100 });
    const { connector, scope } = connectorFor([undeclared], store);
    try {
      const a1 = await scope({ id: '1' }).loader('recommendations', 'forProduct').load('1');
      const b = await scope({ id: '2' }).loader('recommendations', 'forProduct').load('1');
      const a2 = await scope({ id: '1' }).loader('recommendations', 'forProduct').load('1');
      expect(a1).toEqual(a2);
      expect(a1).not.toEqual(b);
      expect(sandbox.upstreams.recommendations.stats().total).toBe(3);
      expect(store.size).toBe(0);
    } finally {
      await connector.close();
    }
  });
});
