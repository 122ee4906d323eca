/**
 * Field usage recorded by a real gateway from real traffic: two API clients send the client
 * operations (the first request of a document through yoga, the next ones through the direct path),
 * and `GET /admin/usage` answers who read which coordinates, how often; with Redis, what every replica
 * counted. The recorder's windows and bounds run on a fake clock.
 */
import { randomUUID } from 'node:crypto';
import { parse, print, type GraphQLSchema } from 'graphql';
import { createYoga, createSchema } from 'graphql-yoga';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeGatewaySchema } from '../src/main.js';
import { hashApiKey } from '../src/security/index.js';
import { createFieldUsage, MemoryUsageSink, operationCoordinates, parseUsageExport, summariseUsage, UsageRecorder, type UsageExport } from '../src/usage/index.js';
import { RedisUsageSink } from '../src/usage/redis-sink.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';
import { eventually } from './support/wait.js';

const KEYS = { web: `web-${randomUUID()}`, mobile: `mobile-${randomUUID()}` };
const ADMIN_TOKEN = `admin-${randomUUID()}`;
const CLIENTS = JSON.stringify([
  { name: 'web', keySha256: hashApiKey(KEYS.web), permissions: [], operations: 'any' },
  { name: 'mobile', keySha256: hashApiKey(KEYS.mobile), permissions: [], operations: 'any' },
]);
const PRODUCT = { id: '1', country: 'US', postcode: '10001' };
const CATEGORY = { slug: 'beauty', first: 2 };
const CHECKOUT = { lines: [{ productId: '7', quantity: 3 }], country: 'GB', postcode: 'SW1A 1AA' };

async function usageOf(url: string, token = ADMIN_TOKEN, query = ''): Promise<{ status: number; body: UsageExport & { error?: { code: string } }; text: string }> {
  const res = await fetch(`${url}/admin/usage${query}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
}

/** Requests per `client/operation` in an export. */
function perClientOperation(u: UsageExport): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of u.counts) {
    const k = `${c.client}/${u.operations[c.id]!.operation}`;
    out[k] = (out[k] ?? 0) + c.count;
  }
  return out;
}

async function send(stack: Stack, client: keyof typeof KEYS, op: keyof typeof OPERATIONS, variables: Record<string, unknown>, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const r = await stack.gql(OPERATIONS[op], variables, { 'x-api-key': KEYS[client] });
    expect(r.status).toBe(200);
    expect(r.body.errors).toBeUndefined();
  }
}

describe('field usage from a real gateway (memory)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CLIENTS, ADMIN_TOKEN } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('counts the coordinates each client read, per operation, through yoga and the direct path', async () => {
    await send(stack, 'web', 'ProductPage', PRODUCT, 3);
    await send(stack, 'mobile', 'CategoryPage', CATEGORY, 2);
    await send(stack, 'mobile', 'CheckoutQuote', CHECKOUT, 1);
    // The second and third ProductPage were executed without yoga, and counted all the same.
    expect(stack.gateway.gateway.directStats().served).toBeGreaterThanOrEqual(2);

    const { status, body, text } = await usageOf(stack.url);
    expect(status).toBe(200);
    const usage = parseUsageExport(body);
    expect(usage.store).toBe('memory');
    expect(perClientOperation(usage)).toEqual({ 'web/ProductPage': 3, 'mobile/CategoryPage': 2, 'mobile/CheckoutQuote': 1 });

    // Each operation's coordinates are those of its document in the served schema.
    const schema = composeGatewaySchema();
    const byName = Object.fromEntries(Object.values(usage.operations).map((o) => [o.operation, o.coordinates]));
    for (const op of ['ProductPage', 'CategoryPage', 'CheckoutQuote'] as const) {
      expect(byName[op]).toEqual(operationCoordinates(schema, parse(OPERATIONS[op]), op)!.coordinates);
    }
    expect(byName.ProductPage).toEqual(expect.arrayContaining(['Query.product', 'Query.product(id:)', 'Product.price', 'Price.discountPercentage', 'Product.shippingEstimate(country:)']));
    expect(byName.CheckoutQuote).toEqual(expect.arrayContaining(['CartLineInput.productId', 'CartLineInput.quantity', 'Query.checkoutQuote(lines:)']));

    const price = summariseUsage(usage, (c) => c === 'Product.price', 30);
    expect(price.requests).toBe(5);
    expect(price.clients).toEqual([
      { name: 'web', requests: 3 },
      { name: 'mobile', requests: 2 },
    ]);
    expect(summariseUsage(usage, (c) => c === 'Price.discountPercentage', 30).clients).toEqual([{ name: 'web', requests: 3 }]);
    expect(summariseUsage(usage, (c) => c === 'Query.apiVersion', 30)).toEqual({ requests: 0, clients: [], operations: [], lastSeen: null });

    // No variable values, no user ids, no keys.
    for (const secret of ['SW1A 1AA', KEYS.web, KEYS.mobile, '"beauty"']) expect(text).not.toContain(secret);
  });

  it('needs the admin token, and validates days', async () => {
    expect((await usageOf(stack.url, 'wrong')).status).toBe(401);
    const bad = await usageOf(stack.url, ADMIN_TOKEN, '?days=-1');
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('BAD_REQUEST');
  });
});

describe('field usage in Redis: every replica contributes', () => {
  const namespace = `usage-test-${randomUUID()}`;
  let a: Stack;
  let b: Stack;
  beforeAll(async () => {
    const env = { CLIENTS, ADMIN_TOKEN, REDIS_URL: 'redis://127.0.0.1:6379', CACHE_NAMESPACE: namespace };
    [a, b] = await Promise.all([startStack({ env }), startStack({ env })]);
  });
  afterAll(async () => {
    await a?.close();
  });

  it('sums the counts of two gateways sharing Redis', async () => {
    await send(a, 'web', 'ProductPage', PRODUCT, 2);
    await send(b, 'web', 'ProductPage', PRODUCT, 1);
    await send(b, 'mobile', 'CategoryPage', CATEGORY, 4);
    // Closing b flushes its last batch (a read flushes only its own process's counts).
    await b.close();
    const { status, body } = await usageOf(a.url);
    expect(status).toBe(200);
    expect(body.store).toBe('redis');
    expect(perClientOperation(body)).toEqual({ 'web/ProductPage': 3, 'mobile/CategoryPage': 4 });
    const last = summariseUsage(body, (c) => c === 'Category.products', 30);
    expect(last.clients).toEqual([{ name: 'mobile', requests: 4 }]);
    expect(Date.parse(last.lastSeen!)).toBeLessThanOrEqual(body.to);
  });
});

describe('field usage while Redis is down', () => {
  let redis: ChildProcess | undefined;
  afterAll(() => {
    redis?.kill('SIGKILL');
  });

  it('keeps the counts (bounded) and sends them once Redis answers, without a restart', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const hour = 3_600_000;
    const sink = new RedisUsageSink({ url: `redis://127.0.0.1:${port}`, namespace: `usage-down-${randomUUID()}`, windowMs: hour, retentionMs: 24 * hour, maxBuffered: 2 });
    const window = Date.now() - (Date.now() % hour);
    const op = new Map([['a1', { operation: 'P', coordinates: ['Query.product'] }]]);
    try {
      sink.add(window, [{ client: 'web', id: 'a1', count: 2, lastSeen: window + 1 }], op);
      await sink.flush();
      sink.add(window, [{ client: 'web', id: 'a1', count: 3, lastSeen: window + 2 }, { client: 'mobile', id: 'a1', count: 1, lastSeen: window + 3 }, { client: 'partner', id: 'a1', count: 4, lastSeen: window + 4 }], op);
      await sink.flush();
      // Two rows fit the buffer: web's are merged, partner's is dropped and counted.
      expect(sink.dropped).toBe(4);
      await expect(sink.read(window)).rejects.toThrow();
      redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      let read: Awaited<ReturnType<RedisUsageSink['read']>> | undefined;
      await eventually(async () => {
        await sink.flush();
        read = await sink.read(window).catch(() => undefined);
        return (read?.counts.length ?? 0) === 2;
      }, 'the buffered counts reached Redis');
      expect(read!.counts.map((c) => [c.client, c.count, c.lastSeen]).sort()).toEqual([
        ['mobile', 1, window + 3],
        ['web', 5, window + 2],
      ]);
      expect(read!.operations).toEqual({ a1: { operation: 'P', coordinates: ['Query.product'] } });
    } finally {
      await sink.close();
    }
  }, 30_000);
});

describe('the recorder', () => {
  const schema: GraphQLSchema = createSchema({
    typeDefs: /* GraphQL */ `
      enum Sort { NEW, OLD @deprecated(reason: "use NEW") }
      input Filter { tag: String, legacy: String @deprecated(reason: "gone"), sort: Sort }
      type Item { id: ID!, name: String!, oldName: String @deprecated(reason: "use name") }
      type Query { items(filter: Filter, sort: Sort, limit: Int @deprecated(reason: "pages")): [Item!]! }
    `,
    resolvers: { Query: { items: () => [{ id: '1', name: 'a', oldName: 'b' }] } },
  });

  it('computes literals, variables and deprecated coordinates, once per document', () => {
    const doc = parse('query Q($f: Filter) { items(filter: $f, sort: OLD) { id ...F } } fragment F on Item { oldName }');
    expect(operationCoordinates(schema, doc, 'Q')).toEqual({
      operation: 'Q',
      coordinates: ['Filter.legacy', 'Filter.sort', 'Filter.tag', 'Item.id', 'Item.oldName', 'Query.items', 'Query.items(filter:)', 'Query.items(sort:)', 'Sort.NEW', 'Sort.OLD'],
      deprecated: ['Filter.legacy', 'Item.oldName', 'Sort.OLD'],
    });
    const inline = parse('{ items(filter: { tag: "x" }, limit: 2) { name } }');
    expect(operationCoordinates(schema, inline, null)!.coordinates).toEqual(['Filter.tag', 'Item.name', 'Query.items', 'Query.items(filter:)', 'Query.items(limit:)']);
    expect(operationCoordinates(schema, parse('query A { items { id } } query B { items { id } }'), null)).toBeUndefined();

    const recorder = new UsageRecorder({ sink: new MemoryUsageSink() });
    const e1 = recorder.entry(schema, doc, 'Q');
    expect(recorder.entry(schema, doc, 'Q')).toBe(e1);
    // Another document with the same name and coordinates is the same operation.
    expect(recorder.entry(schema, parse(print(doc)), 'Q')).toBe(e1);
  });

  it('counts in windows, reads N days back, and forgets past the retention (fake clock)', async () => {
    let now = Date.UTC(2026, 0, 1);
    const day = 86_400_000;
    const recorder = new UsageRecorder({ sink: new MemoryUsageSink({ retentionMs: 10 * day, now: () => now }), windowMs: day, retentionMs: 10 * day, now: () => now });
    const e = recorder.entry(schema, parse('query Old { items { oldName } }'), null)!;
    recorder.record(e, 'web');
    now += 3 * day;
    recorder.record(e, 'web');
    recorder.record(e, 'mobile');
    const all = await recorder.export();
    expect(all.counts.map((c) => [c.window, c.client, c.count])).toEqual([
      [Date.UTC(2026, 0, 1), 'web', 1],
      [Date.UTC(2026, 0, 4), 'mobile', 1],
      [Date.UTC(2026, 0, 4), 'web', 1],
    ]);
    expect(summariseUsage(all, (c) => c === 'Item.oldName', 1).requests).toBe(2);
    expect(summariseUsage(all, (c) => c === 'Item.oldName', 5).requests).toBe(3);
    expect((await recorder.export(1)).counts).toHaveLength(2);
    now += 12 * day;
    recorder.record(e, 'web');
    expect((await recorder.export()).counts.map((c) => [c.window, c.client, c.count])).toEqual([[Date.UTC(2026, 0, 16), 'web', 1]]);
  });

  it('bounds the distinct operations it counts', () => {
    const recorder = new UsageRecorder({ sink: new MemoryUsageSink(), maxOperations: 1 });
    expect(recorder.entry(schema, parse('{ items { id } }'), null)).not.toBeNull();
    expect(recorder.entry(schema, parse('{ items { name } }'), null)).toBeNull();
    expect(recorder.overflow).toBe(1);
  });

  it('counts calls to deprecated coordinates per client in /metrics, through the plugin', async () => {
    const registry = new Registry();
    const usage = await createFieldUsage({ env: {}, redisUrl: undefined, namespace: 'x', adminToken: undefined, registry });
    const clientOf = (req: Request) => req.headers.get('x-client');
    const yoga = createYoga({
      schema,
      plugins: [...usage.plugins],
      context: ({ request }) => ({ state: { client: clientOf(request) ? { name: clientOf(request), permissions: new Set() } : null } }),
    });
    const server = createServer(yoga);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    const ask = async (query: string, client?: string) => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(client ? { 'x-client': client } : {}) }, body: JSON.stringify({ query }) });
      expect((await res.json()).errors).toBeUndefined();
    };
    try {
      await ask('{ items { oldName } }', 'web');
      await ask('{ items { oldName } }', 'web');
      await ask('{ items(sort: OLD) { name } }');
      await ask('{ items { name } }', 'mobile');
      const text = await registry.metrics();
      const lines = text.split('\n').filter((l) => l.startsWith('tributary_deprecated_field_calls_total{')).sort();
      expect(lines).toEqual([
        'tributary_deprecated_field_calls_total{coordinate="Item.oldName",client="web"} 2',
        'tributary_deprecated_field_calls_total{coordinate="Sort.OLD",client="anonymous"} 1',
      ]);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await usage.close();
    }
  });

  it('FIELD_USAGE=off records nothing; bad settings are refused with the value', async () => {
    const off = await createFieldUsage({ env: { FIELD_USAGE: 'off' }, redisUrl: undefined, namespace: 'x', adminToken: undefined });
    expect(off.plugins).toHaveLength(0);
    expect(off.routes).toHaveLength(0);
    await expect(createFieldUsage({ env: { FIELD_USAGE: 'maybe' }, redisUrl: undefined, namespace: 'x', adminToken: undefined })).rejects.toThrow('FIELD_USAGE must be "on" or "off", but is "maybe".');
    await expect(createFieldUsage({ env: { FIELD_USAGE_RETENTION_DAYS: '0' }, redisUrl: undefined, namespace: 'x', adminToken: undefined })).rejects.toThrow('FIELD_USAGE_RETENTION_DAYS must be an integer >= 1, but is "0".');
  });
});
