/**
 * The engine's policies on their own: a real Connector against real sandbox servers, with upstream
 * definitions written for the test (the engine knows no domain, so any definition will do); the
 * declared on-error fallback through a real gateway; and the validation of definitions.
 */
import { Type } from '@sinclair/typebox';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox, type StatsEntry } from '../sandbox/index.js';
import { Connector, MemoryStore, POLICY_DEFAULTS, Telemetry, batchEndpoint, defineUpstream, singleEndpoint, withPolicy, type UpstreamDef } from '../src/connector/index.js';
import { ConfigurationError } from '../src/errors.js';
import pricing from '../upstreams/pricing.js';
import recommendations from '../upstreams/recommendations.js';
import { anonymousRecommendations, products } from './support/expected.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';
import { taxOrder } from './support/upstreams.js';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

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

/** pricing's declared fields of one price (as upstreams/pricing.ts declares them). */
const PRICE_FIELDS = { sku: Type.String(), currency: Type.String(), list: Type.Number(), sale: Type.Number(), discountPercentage: Type.Number() };

describe('non-idempotent calls', () => {
  it.each([
    ['503', { error: { probability: 1, status: 503 } }],
    ['a reset connection', { reset: { probability: 1 } }],
    ['a hang', { hang: { probability: 1 } }],
    ['malformed JSON', { malformed: { probability: 1 } }],
  ] as const)('a POST without a safe declaration is sent exactly once whatever fails (%s)', async (_, faults) => {
    const { connector, scope } = connectorFor([taxOrder(false, 300)]);
    try {
      sandbox.upstream('tax').setFaults(faults);
      await expect(scope().loader('tax', 'quote').load(100)).rejects.toMatchObject({ upstream: 'tax' });
      expect(sandbox.upstream('tax').stats().total).toBe(1);
    } finally {
      await connector.close();
    }
  });

  it('the same POST declared retry-safe is retried', async () => {
    const { connector, scope } = connectorFor([taxOrder(true, 300)]);
    try {
      sandbox.upstream('tax').setFaults({ error: { probability: 1, status: 503 } });
      await expect(scope().loader('tax', 'quote').load(100)).rejects.toMatchObject({ code: 'UPSTREAM_ERROR' });
      expect(sandbox.upstream('tax').stats().total).toBe(3);
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
      const reqs = sandbox.upstream('catalog').stats().requests;
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
      expect(sandbox.upstream('catalog').stats().total).toBe(5);
    } finally {
      await connector.close();
    }
  });
});

/** The inventory's stock lookup (a POST declared retry-safe, so it may be hedged), for the hedging tests. */
const stockLookup = batchEndpoint({
  method: 'POST',
  retrySafe: true,
  maxBatchSize: 100,
  request: (skus: readonly string[]) => ({ path: '/stock/lookup', body: { skus } }),
  response: Type.Object({ items: Type.Array(Type.Object({ sku: Type.String(), onHand: Type.Integer() })) }),
  items: (b) => b.items,
  itemKey: (i: { sku: string; onHand: number }) => i.sku,
  map: (i) => i.onHand,
  cardinality: 'one',
});

describe('hedging', () => {
  const inventoryDef = defineUpstream({
    name: 'inventory',
    baseUrlEnv: 'UPSTREAM_INVENTORY_URL',
    auth: { scheme: 'apiKey', header: 'X-Api-Key', key: { env: 'INVENTORY_API_KEY', sandboxDefault: 'sandbox-inventory-key' } },
    policy: { timeoutMs: 2_000, hedge: { delayMs: 80 }, breaker: false },
    endpoints: { stock: stockLookup },
  });

  it('fires only for slow calls, the first answer wins, and the loser is aborted', async () => {
    const { connector, scope, telemetry } = connectorFor([inventoryDef]);
    let hedges = 0;
    let refused = 0;
    telemetry.on('hedge', () => hedges++);
    telemetry.on('retryBudgetExhausted', () => refused++);
    sandbox.upstream('inventory').setFaults({ spike: { probability: 0.3, ms: 400 } });
    try {
      // One call at a time, so each call's requests sit next to each other in the upstream's log.
      for (const p of products.slice(0, 30)) {
        expect(await scope().loader('inventory', 'stock').load(p.sku)).toBe(p.stock);
      }
      const reqs = sandbox.upstream('inventory').stats().requests;
      const hedgeReqs = reqs.filter((r) => r.headers['x-tributary-hedge'] === '1');
      expect(hedges).toBe(hedgeReqs.length);
      expect(hedges).toBeGreaterThan(0);
      let spikedUnhedged = 0;
      for (let i = 0; i < reqs.length; i++) {
        const r = reqs[i]!;
        if (r.headers['x-tributary-hedge'] === '1') continue;
        const next = reqs[i + 1];
        const hedged = next?.headers['x-tributary-hedge'] === '1';
        if (!hedged) {
          // Not hedged: it answered (a spiked one only when the retry budget refused its hedge).
          expect(r.status).toBe(200);
          if (r.spikeMs) spikedUnhedged++;
        } else {
          // Hedged: the primary drew the sandbox's latency spike (the hedge fires for slow calls
          // only), and exactly one of the pair was aborted (status 0).
          expect(r.spikeMs).toBe(400);
          const statuses = [r.status, next!.status].sort();
          expect(statuses).toEqual([0, 200]);
        }
      }
      expect(spikedUnhedged).toBeLessThanOrEqual(refused);
    } finally {
      await connector.close();
    }
  });
});

describe('hedging when this process is the slow one', () => {
  /**
   * An upstream in another process (the sandbox shares this test's event loop, so it could not answer
   * while the loop is busy): it prints "got <n> <hedge header>" when a request arrives and answers
   * 10 ms later.
   */
  const UPSTREAM = `
    let n = 0;
    require('node:http').createServer((req, res) => {
      n++;
      process.stdout.write('got ' + n + ' ' + (req.headers['x-tributary-hedge'] || '-') + '\\n');
      req.resume();
      setTimeout(() => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ items: [{ sku: 'S', onHand: 7 }] })); }, 10);
    }).listen(0, '127.0.0.1', function () { process.stdout.write('port ' + this.address().port + '\\n'); });`;

  it('an answer that arrived while the event loop was busy past the hedge delay is read first: no hedge is sent', async () => {
    const child = spawn(process.execPath, ['-e', UPSTREAM], { stdio: ['ignore', 'pipe', 'inherit'] });
    const seen: string[] = [];
    const waiters: (() => void)[] = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      seen.push(...d.split('\n').filter(Boolean));
      waiters.splice(0).forEach((w) => w());
    });
    const line = (pred: (l: string) => boolean) =>
      new Promise<string>((resolve) => {
        const check = () => {
          const l = seen.find(pred);
          if (l) resolve(l);
          else waiters.push(check);
        };
        check();
      });
    const hedgedDef = defineUpstream({
      name: 'inventory',
      baseUrlEnv: 'UPSTREAM_INVENTORY_URL',
      auth: { scheme: 'none' },
      policy: { timeoutMs: 5_000, hedge: { delayMs: 200 }, breaker: false },
      endpoints: { stock: stockLookup },
    });
    const port = (await line((l) => l.startsWith('port '))).slice(5);
    const telemetry = new Telemetry();
    const connector = new Connector({ upstreams: [hedgedDef], env: {}, baseUrls: { inventory: `http://127.0.0.1:${port}` }, sandboxMode: true, cache: null, telemetry });
    let hedges = 0;
    telemetry.on('hedge', () => hedges++);
    try {
      for (let n = 1; n <= 3; n++) {
        const answer = connector.scope({ requestId: `busy-${n}`, user: null, deadline: performance.now() + 10_000 }).loader('inventory', 'stock').load('S');
        // The upstream has the request and answers 10 ms later, while this process is busy for 600 ms:
        // past the 200 ms hedge delay, so the hedge timer is due before the socket is read.
        await line((l) => l.startsWith(`got ${n} `));
        const busyUntil = performance.now() + 600;
        while (performance.now() < busyUntil) {
          /* a busy event loop */
        }
        expect(await answer).toBe(7);
      }
      expect(hedges).toBe(0);
      expect(seen.filter((l) => l.startsWith('got '))).toEqual(['got 1 -', 'got 2 -', 'got 3 -']);
    } finally {
      await connector.close();
      child.kill();
    }
  });
});

describe('typed clients', () => {
  it('an upstream may have any name the definitions accept, "scope" and "made" included', async () => {
    const named = (name: string) =>
      defineUpstream({
        name,
        baseUrlEnv: 'UPSTREAM_X_URL',
        auth: { scheme: 'none' },
        endpoints: { byId: singleEndpoint({ method: 'GET', request: (id: string) => ({ path: '/products/:id', params: { id } }), response: Type.Object({ id: Type.Integer() }), map: (p) => p.id }) },
      });
    const connector = new Connector({ upstreams: [named('scope'), named('made')], env: {}, baseUrls: { scope: sandbox.url('catalog'), made: sandbox.url('catalog') }, sandboxMode: true, cache: null, telemetry: new Telemetry() });
    try {
      const clients = connector.clientsFor(connector.scope({ requestId: 'names', user: null, deadline: performance.now() + 10_000 })) as unknown as Record<string, Record<string, { load(id: string): Promise<unknown> }>>;
      expect(await clients.scope!.byId!.load('1')).toBe(1);
      expect(await clients.made!.byId!.load('2')).toBe(2);
    } finally {
      await connector.close();
    }
  });
});

describe('a batch answer is matched to its keys', () => {
  it('in the order asked, reordered, with a key missing or an item not asked for: each key gets its own item or null', async () => {
    // What the upstream does with the SKUs it is asked for, call by call.
    const answers: ((skus: string[]) => { sku: string; onHand: number }[])[] = [
      (skus) => skus.map((sku, i) => ({ sku, onHand: i })),
      (skus) => [...skus].reverse().map((sku) => ({ sku, onHand: skus.indexOf(sku) })),
      (skus) => [{ sku: 'nobody-asked', onHand: 99 }, ...skus.slice(1).map((sku) => ({ sku, onHand: skus.indexOf(sku) }))],
    ];
    let call = 0;
    const server = createServer((req, res) => {
      const skus = new URL(req.url ?? '/', 'http://x').searchParams.get('skus')!.split(',');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ items: answers[call++]!(skus) }));
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const def = defineUpstream({
      name: 'stock',
      baseUrlEnv: 'UPSTREAM_STOCK_URL',
      auth: { scheme: 'none' },
      policy: { breaker: false },
      endpoints: {
        bySku: batchEndpoint({
          method: 'GET',
          maxBatchSize: 10,
          request: (skus: readonly string[]) => ({ path: '/stock', query: { skus: skus.join(',') } }),
          response: Type.Object({ items: Type.Array(Type.Object({ sku: Type.String(), onHand: Type.Integer() })) }),
          items: (b) => b.items,
          itemKey: (i: { sku: string; onHand: number }) => i.sku,
          map: (i) => i.onHand,
          cardinality: 'one',
        }),
      },
    });
    const { port } = server.address() as AddressInfo;
    const connector = new Connector({ upstreams: [def], env: {}, baseUrls: { stock: `http://127.0.0.1:${port}` }, sandboxMode: true, cache: null, telemetry: new Telemetry() });
    try {
      const load = () => connector.scope({ requestId: 'order', user: null, deadline: performance.now() + 10_000 }).loader('stock', 'bySku').loadMany(['a', 'b', 'c']);
      expect(await load()).toEqual([0, 1, 2]);
      expect(await load()).toEqual([0, 1, 2]);
      expect(await load()).toEqual([null, 1, 2]);
    } finally {
      await connector.close();
      await new Promise((ok) => server.close(ok));
    }
  });
});

describe('cache keys follow the response shape', () => {
  it('a definition whose response schema changed never reads what the old one cached (same store)', async () => {
    const store = new MemoryStore({ maxEntries: 100 });
    const sku = products[0]!.sku;
    const ep = pricing.endpoints.pricesBySku;
    // The next deploy's pricing: one more (optional) field in the declared answer, nothing else.
    const next = defineUpstream({
      ...pricing,
      endpoints: {
        pricesBySku: batchEndpoint({ ...ep, response: Type.Object({ prices: Type.Array(Type.Object({ ...PRICE_FIELDS, promo: Type.Optional(Type.String()) })) }) }),
      },
    } as never) as UpstreamDef;
    const before = sandbox.upstream('pricing').stats().total;
    for (const def of [pricing as UpstreamDef, pricing as UpstreamDef, next, next]) {
      const { connector, scope } = connectorFor([def], store);
      try {
        expect(((await scope().loader('pricing', 'pricesBySku').load(sku)) as { sku: string }).sku).toBe(sku);
      } finally {
        await connector.close();
      }
    }
    // The old shape's entry served the second; the new shape asked the upstream once, then was cached.
    expect(sandbox.upstream('pricing').stats().total - before).toBe(2);
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
      expect(sandbox.upstream('recommendations').stats().total).toBe(3);
      expect(store.size).toBe(0);
    } finally {
      await connector.close();
    }
  });
});

describe('on-error fallback: a declared value instead of an error', () => {
  // upstreams/recommendations.ts declares `onError: { fallback: [] }`: recommendations are optional
  // content, so a failing recommendations upstream shows none, and no error.
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CACHE: 'off' } });
  });
  afterAll(async () => {
    await stack?.close();
  });
  const VARS = { id: '1', country: 'US', postcode: '10001' };
  const faults = (spec: unknown) =>
    fetch(`${stack.sandbox.urls.recommendations}/__faults`, { method: spec === null ? 'DELETE' : 'POST', headers: { 'content-type': 'application/json' }, body: spec === null ? undefined : JSON.stringify(spec) });

  const attempts = recommendations.resolvedPolicy.retry.attempts;
  // [fault, its spec, calls the upstream receives: every attempt the retry policy allows for a
  // connection failure or a 503; one for a 200 whose body is not JSON, which is not retried]
  it.each([
    ['down', { down: true }, attempts],
    ['answering 503', { error: { probability: 1, status: 503 } }, attempts],
    ['answering malformed JSON', { malformed: { probability: 1 } }, 1],
  ] as const)('with recommendations %s, ProductPage has `recommendations: []`, every other field, and no error', async (_, spec, calls) => {
    const up = await stack.gql(OPERATIONS.ProductPage, VARS);
    expect(up.body.errors).toBeUndefined();
    expect(up.body.data.product.recommendations.map((p: { id: string }) => Number(p.id))).toEqual(anonymousRecommendations(1, 4));
    try {
      expect((await faults(spec)).status).toBe(200);
      stack.resetStats();
      const down = await stack.gql(OPERATIONS.ProductPage, VARS);
      expect(down.status).toBe(200);
      expect(down.body).toEqual({ data: { product: { ...up.body.data.product, recommendations: [] } } });
      // The upstream was asked, and failed, before the fallback was given.
      expect(stack.sandbox.upstream('recommendations').stats().total).toBe(calls);
      // No recommended product to look up: the product alone from the catalog, and its price alone.
      expect(stack.sandbox.upstream('catalog').stats().counts).toEqual({ 'GET /products/:id': 1 });
      expect(stack.sandbox.upstream('pricing').stats().total).toBe(1);
    } finally {
      expect((await faults(null)).status).toBe(204);
    }
  });
});

describe('upstream definitions are validated when defined', () => {
  type Def = Record<string, any>;
  /** A valid definition with one endpoint of each kind; each case below breaks one field of it. */
  const valid = (): Def => ({
    name: 'test',
    baseUrlEnv: 'UPSTREAM_TEST_URL',
    auth: { scheme: 'bearer', token: { env: 'TEST_TOKEN' } },
    policy: {},
    endpoints: {
      byId: singleEndpoint({
        method: 'GET',
        request: (id: string) => ({ path: '/things/:id', params: { id } }),
        response: Type.Object({ id: Type.Integer() }),
        map: (b) => b.id,
        cache: { ttlMs: 1_000, scope: 'public' },
      }),
      bySku: batchEndpoint({
        method: 'GET',
        maxBatchSize: 10,
        request: (skus: readonly string[]) => ({ path: '/things', query: { skus: skus.join(',') } }),
        response: Type.Object({ items: Type.Array(Type.Object({ sku: Type.String() })) }),
        items: (b) => b.items,
        itemKey: (i: { sku: string }) => i.sku,
        map: (i) => i.sku,
        cardinality: 'one',
      }),
    },
  });

  it('the valid definition defines, with its defaults resolved', () => {
    const def = defineUpstream(valid() as never);
    expect(def.resolvedPolicy.timeoutMs).toBe(POLICY_DEFAULTS.timeoutMs);
    expect(def.resolvedPolicy.onError).toBe('null');
    expect(def.resolvedPolicy.breaker).toMatchObject({ consecutiveFailures: POLICY_DEFAULTS.breaker.consecutiveFailures });
    expect(defineUpstream({ ...valid(), policy: { breaker: { consecutiveFailures: 5 } } } as never).resolvedPolicy.breaker).toMatchObject({ consecutiveFailures: 5, failureRatio: POLICY_DEFAULTS.breaker.failureRatio });
    expect(defineUpstream({ ...valid(), policy: { onError: { fallback: [] } } } as never).resolvedPolicy.onError).toEqual({ fallback: [] });
  });

  // [the field the message names, the value the message shows, how the definition breaks it]
  const cases: [string, string, (d: Def) => void][] = [
    ['policy.timeoutMs', '-1', (d) => (d.policy.timeoutMs = -1)],
    ['policy.timeoutMs', '1.5', (d) => (d.policy.timeoutMs = 1.5)],
    ['policy.retry.attempts', '0', (d) => (d.policy.retry = { attempts: 0 })],
    ['policy.retry.baseDelayMs', '-25', (d) => (d.policy.retry = { baseDelayMs: -25 })],
    ['policy.retry.statuses', '[200,503]', (d) => (d.policy.retry = { statuses: [200, 503] })],
    ['policy.retry.maxRetryAfterMs', '-1', (d) => (d.policy.retry = { maxRetryAfterMs: -1 })],
    ['policy.breaker.failureRatio', '1.5', (d) => (d.policy.breaker = { failureRatio: 1.5 })],
    ['policy.breaker.failureRatio', '0', (d) => (d.policy.breaker = { failureRatio: 0 })],
    ['policy.breaker.minimumCalls', '0', (d) => (d.policy.breaker = { minimumCalls: 0 })],
    ['policy.breaker.halfOpenAfterMs', '"5s"', (d) => (d.policy.breaker = { halfOpenAfterMs: '5s' })],
    ['policy.breaker.consecutiveFailures', '0', (d) => (d.policy.breaker = { consecutiveFailures: 0 })],
    ['policy.breaker.consecutiveFailures', 'true', (d) => (d.policy.breaker = { consecutiveFailures: true })],
    ['policy.maxConcurrency', '0', (d) => (d.policy.maxConcurrency = 0)],
    ['policy.maxQueue', '-1', (d) => (d.policy.maxQueue = -1)],
    ['policy.maxResponseBytes', '0', (d) => (d.policy.maxResponseBytes = 0)],
    ['policy.connections', '0', (d) => (d.policy.connections = 0)],
    ['policy.hedge.percentile', '1', (d) => (d.policy.hedge = { percentile: 1 })],
    ['policy.hedge.maxDelayMs', '10', (d) => (d.policy.hedge = { minDelayMs: 50, maxDelayMs: 10 })],
    ['policy.hedge.delayMs', '0', (d) => (d.policy.hedge = { delayMs: 0 })],
    ['policy.onError', '"retry"', (d) => (d.policy.onError = 'retry')],
    ['policy.onError', '{"value":[]}', (d) => (d.policy.onError = { value: [] })],
    ['baseUrlEnv', '"upstream-test-url"', (d) => (d.baseUrlEnv = 'upstream-test-url')],
    ['auth.scheme', '"digest"', (d) => (d.auth = { scheme: 'digest' })],
    ['auth.token', '{"name":"TEST_TOKEN"}', (d) => (d.auth = { scheme: 'bearer', token: { name: 'TEST_TOKEN' } })],
    ['auth.header', '"X Api Key"', (d) => (d.auth = { scheme: 'apiKey', header: 'X Api Key', key: { env: 'TEST_KEY' } })],
    ['auth.password', 'undefined', (d) => (d.auth = { scheme: 'basic', username: { env: 'TEST_USER' } })],
    ['auth.tokenPath', '"oauth/token"', (d) => (d.auth = { scheme: 'oauth2ClientCredentials', tokenPath: 'oauth/token', clientId: { env: 'A' }, clientSecret: { env: 'B' } })],
    ['contract', '"strict"', (d) => (d.contract = 'strict')],
    ['sensitiveFields', '["password",""]', (d) => (d.sensitiveFields = ['password', ''])],
    ['endpoints', '{}', (d) => (d.endpoints = {})],
    ['endpoint name', '"by-id"', (d) => (d.endpoints['by-id'] = d.endpoints.byId)],
    ['endpoints.byId.kind', 'undefined', (d) => (d.endpoints.byId = { ...d.endpoints.byId, kind: undefined })],
    ['endpoints.byId.method', '"FETCH"', (d) => (d.endpoints.byId.method = 'FETCH')],
    ['endpoints.byId.request', '"/things/:id"', (d) => (d.endpoints.byId.request = '/things/:id')],
    ['endpoints.byId.map', 'undefined', (d) => (d.endpoints.byId.map = undefined)],
    ['endpoints.byId.response', 'undefined', (d) => (d.endpoints.byId.response = undefined)],
    ['endpoints.byId.timeoutMs', '-100', (d) => (d.endpoints.byId.timeoutMs = -100)],
    ['endpoints.byId.cache.ttlMs', '0', (d) => (d.endpoints.byId.cache = { ttlMs: 0, scope: 'public' })],
    ['endpoints.byId.cache.scope', '"private"', (d) => (d.endpoints.byId.cache = { ttlMs: 1_000, scope: 'private' })],
    // A cache with no scope: whether it may be shared is never left to a default.
    ['endpoints.byId.cache.scope', 'undefined', (d) => (d.endpoints.byId.cache = { ttlMs: 1_000 })],
    ['endpoints.byId.cache.staleIfErrorMs', '-1', (d) => (d.endpoints.byId.cache = { ttlMs: 1_000, scope: 'public', staleIfErrorMs: -1 })],
    ['endpoints.byId.cache.staleWhileRevalidateMs', '0.5', (d) => (d.endpoints.byId.cache = { ttlMs: 1_000, scope: 'user', staleWhileRevalidateMs: 0.5 })],
    ['endpoints.byId.onError', '"fallback"', (d) => (d.endpoints.byId.onError = 'fallback')],
    ['endpoints.bySku.onError', '"stale"', (d) => (d.endpoints.bySku.onError = 'stale')],
    ['endpoints.byId.onError (onError "stale")', '{"ttlMs":1000,"scope":"public"}', (d) => (d.endpoints.byId.onError = 'stale')],
    ['endpoints.bySku.maxBatchSize', '0', (d) => (d.endpoints.bySku.maxBatchSize = 0)],
    ['endpoints.bySku.items', '"items"', (d) => (d.endpoints.bySku.items = 'items')],
    ['endpoints.bySku.itemKey', 'undefined', (d) => (d.endpoints.bySku.itemKey = undefined)],
    ['endpoints.bySku.cardinality', '"some"', (d) => (d.endpoints.bySku.cardinality = 'some')],
  ];

  it.each(cases)('%s, received %s: a ConfigurationError naming the upstream and the field', (field, shown, breakIt) => {
    const def = valid();
    breakIt(def);
    let error: unknown;
    try {
      defineUpstream(def as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).code).toBe('CONFIGURATION_ERROR');
    const message = (error as Error).message;
    // Names the upstream and the field, states the contract, shows the value received.
    expect(message).toContain(`upstream "test": ${field} must be `);
    expect(message.endsWith(`, but received: ${shown}`)).toBe(true);
  });

  it('a bad name is refused, showing the name', () => {
    expect(() => defineUpstream({ ...valid(), name: 'Test Upstream' } as never)).toThrow(new ConfigurationError('upstream name must be a camelCase identifier, but received: "Test Upstream"'));
  });

  it('a policy override is validated too, naming the upstream it overrides', () => {
    const def = defineUpstream(valid() as never);
    expect(() => withPolicy(def, { timeoutMs: -5 })).toThrow(new ConfigurationError('upstream "test": policy.timeoutMs must be an integer >= 1, but received: -5'));
    expect(() => withPolicy(def, { retry: { attempts: 0 } })).toThrow(/^upstream "test": policy\.retry\.attempts must be an integer >= 1, but received: 0$/);
  });
});
