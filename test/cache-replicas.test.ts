/**
 * Replicas sharing one Redis: real gateway processes (`node src/main.ts`), the machine's Redis on
 * 127.0.0.1:6379 under a namespace of their own, a private redis-server we can stop and restart, and a
 * TCP proxy in front of Redis that makes it slow.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { createClient } from '@redis/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sandboxUpstreamNames, startSandbox, type Sandbox } from '../sandbox/index.js';
import { sandboxEnv, startGatewayProcess, type GatewayProcess } from './support/gateway-process.js';
import { byId } from './support/expected.js';
import { OPERATIONS, post, startStack } from './support/stack.js';
import { eventually } from './support/wait.js';

const ADMIN_TOKEN = `admin-${randomUUID()}`;
const vars = { id: '1', country: 'US', postcode: '10001' };

let sandbox: Sandbox;

type Replica = GatewayProcess;
const startReplica = startGatewayProcess;
const upstreamEnv = () => sandboxEnv(sandbox.urls);
const stop = (r: Replica | undefined) => r?.stop() ?? Promise.resolve();

const totalCalls = () => Object.values(sandbox.upstreams).reduce((n, u) => n + u.stats().total, 0);
const resetStats = () => Object.values(sandbox.upstreams).forEach((u) => u.resetStats());

async function adminStats(url: string): Promise<{ invalidationsReceived?: number; redisConnected?: boolean }> {
  const res = await fetch(`${url}/admin/cache/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return (await res.json()) as { invalidationsReceived?: number; redisConnected?: boolean };
}

beforeAll(async () => {
  sandbox = await startSandbox({ portBase: 0, seed: 3, latencyMs: Object.fromEntries(sandboxUpstreamNames().map((n) => [n, 2])) });
});
afterAll(async () => {
  await sandbox?.close();
});
beforeEach(() => resetStats());

describe('two gateway processes sharing one Redis', () => {
  let a: Replica | undefined;
  let b: Replica | undefined;
  beforeAll(async () => {
    // A generous Redis timeout: these tests are about sharing, and a loaded CI machine must not turn a read into a miss.
    const env = { ...upstreamEnv(), REDIS_URL: 'redis://127.0.0.1:6379', REDIS_TIMEOUT_MS: '1000', CACHE_NAMESPACE: `tributary-test-${randomUUID()}`, ADMIN_TOKEN };
    [a, b] = await Promise.all([startReplica(env), startReplica(env)]);
    // "Listening" comes before the Redis client is ready; until it is, every read is a miss (and a
    // write is skipped), which would make the counts below depend on how fast each process started.
    await eventually(async () => (await adminStats(a!.url)).redisConnected === true && (await adminStats(b!.url)).redisConnected === true);
  }, 40_000);
  afterAll(async () => {
    await Promise.all([stop(a), stop(b)]);
  });

  it('a ProductPage on the first fills the cache; the same page on the second costs zero upstream calls', async () => {
    const first = await post(a!.url, { query: OPERATIONS.ProductPage, variables: vars });
    expect(first.body.errors).toBeUndefined();
    expect(totalCalls()).toBeGreaterThan(0);
    resetStats();
    const second = await post(b!.url, { query: OPERATIONS.ProductPage, variables: vars });
    expect(second.body).toEqual(first.body);
    expect(totalCalls()).toBe(0);
  });

  it('invalidation on one process is seen by the other: its next query calls the upstream again', async () => {
    // Make sure both hold the page (b in its memory layer too).
    await post(a!.url, { query: OPERATIONS.ProductPage, variables: vars });
    await post(b!.url, { query: OPERATIONS.ProductPage, variables: vars });
    resetStats();
    await post(b!.url, { query: OPERATIONS.ProductPage, variables: vars });
    expect(totalCalls()).toBe(0);

    const before = (await adminStats(b!.url)).invalidationsReceived ?? 0;
    const refused = await fetch(`${a!.url}/admin/cache/invalidate`, { method: 'POST', body: JSON.stringify({ upstream: 'pricing' }) });
    expect(refused.status).toBe(401);
    const inv = await fetch(`${a!.url}/admin/cache/invalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ upstream: 'pricing' }),
    });
    expect(inv.status).toBe(200);
    expect(((await inv.json()) as { removed: number }).removed).toBeGreaterThan(0);
    await eventually(async () => ((await adminStats(b!.url)).invalidationsReceived ?? 0) > before);

    resetStats();
    const r = await post(b!.url, { query: OPERATIONS.ProductPage, variables: vars });
    expect(r.body.errors).toBeUndefined();
    expect(sandbox.upstream('pricing').stats().total).toBe(2); // the product's price and the recommended products' prices
    expect(totalCalls()).toBe(2); // nothing else was invalidated
  });

  it('invalidation by upstream, endpoint and keys: only those keys are refetched, on either process', async () => {
    const invalidate = (from: Replica, body: unknown) =>
      fetch(`${from.url}/admin/cache/invalidate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    /** Invalidate on one process; return once the other has received the broadcast. */
    const invalidateAndWait = async (from: Replica, to: Replica, body: unknown) => {
      const before = (await adminStats(to.url)).invalidationsReceived ?? 0;
      const res = await invalidate(from, body);
      expect(res.status).toBe(200);
      await eventually(async () => ((await adminStats(to.url)).invalidationsReceived ?? 0) > before);
      return ((await res.json()) as { removed: number }).removed;
    };
    const page = (r: Replica) => post(r.url, { query: OPERATIONS.ProductPage, variables: vars });
    const expected = (await page(a!)).body;
    expect(expected.errors).toBeUndefined();
    await page(b!);
    resetStats();
    // Both hold the whole page.
    expect((await page(a!)).body).toEqual(expected);
    expect((await page(b!)).body).toEqual(expected);
    expect(totalCalls()).toBe(0);

    // On a: one price, by its SKU. On b, the next page asks pricing for that SKU alone; nothing else.
    const sku = byId.get(vars.id)!.sku;
    expect(await invalidateAndWait(a!, b!, { upstream: 'pricing', endpoint: 'pricesBySku', keys: [sku] })).toBe(1);
    resetStats();
    expect((await page(b!)).body).toEqual(expected);
    expect(sandbox.upstream('pricing').stats().requests.map((q) => decodeURIComponent(q.path))).toEqual([`/v1/prices?skus=${sku}`]);
    expect(totalCalls()).toBe(1);

    // On b: one recommended product, by id. On a, the next page asks the catalog for that product alone.
    const recommended = expected.data.product.recommendations[1].id as string;
    expect(await invalidateAndWait(b!, a!, { upstream: 'catalog', endpoint: 'productById', keys: [recommended] })).toBe(1);
    resetStats();
    expect((await page(a!)).body).toEqual(expected);
    expect(sandbox.upstream('catalog').stats().requests.map((q) => q.path)).toEqual([`/products/${recommended}`]);
    expect(totalCalls()).toBe(1);

    // Each refetched key went back to the shared store: both processes answer the page from the cache again.
    resetStats();
    expect((await page(a!)).body).toEqual(expected);
    expect((await page(b!)).body).toEqual(expected);
    expect(totalCalls()).toBe(0);
  });
});

describe('Redis stopped in the middle of a load run', () => {
  let redis: ChildProcess | undefined;
  let port = 0;

  function startRedis(): Promise<void> {
    return new Promise((resolve, reject) => {
      redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      redis.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) resolve();
      });
      redis.on('error', reject);
      redis.on('exit', (code) => code && reject(new Error(`redis-server exited ${code}: ${out}`)));
    });
  }

  beforeAll(async () => {
    port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    await startRedis();
  });
  afterAll(async () => {
    redis?.kill('SIGKILL');
  });

  it('every query still returns from the upstreams; when Redis is back the cache is used again, without a restart', async () => {
    const namespace = `tributary-test-${randomUUID()}`;
    const gw = await startStack({ env: { CACHE: 'on', REDIS_URL: `redis://127.0.0.1:${port}`, CACHE_NAMESPACE: namespace, ADMIN_TOKEN } });
    const probe = createClient({ url: `redis://127.0.0.1:${port}` });
    probe.on('error', () => {});
    try {
      const ids = Array.from({ length: 120 }, (_, i) => String((i % 100) + 1));
      let next = 0;
      let killed = false;
      const statuses: boolean[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < ids.length) {
            const i = next++;
            if (i === 40 && !killed) {
              killed = true;
              redis!.kill('SIGKILL');
            }
            const r = await gw.gql('query($id: ID!) { product(id: $id) { id title price { sale { amount } } } }', { id: ids[i] });
            statuses.push(r.status === 200 && r.body.data?.product?.id === ids[i] && r.body.data.product.price !== null);
          }
        }),
      );
      expect(statuses).toHaveLength(120);
      expect(statuses.every(Boolean)).toBe(true);
      // The answers after the stop came from the upstreams: products 41..100 were first asked for after
      // Redis was gone, and each cost exactly one catalog call and one pricing call for its own key.
      // (The second round of 1..20 may come from the memory layer, which needs no Redis.)
      const catalogPaths = gw.sandbox.upstream('catalog').stats().requests.map((q) => q.path);
      const pricingPaths = gw.sandbox.upstream('pricing').stats().requests.map((q) => decodeURIComponent(q.path));
      for (let id = 41; id <= 100; id++) {
        expect(catalogPaths.filter((p) => p === `/products/${id}`)).toHaveLength(1);
        expect(pricingPaths.filter((p) => p === `/v1/prices?skus=${byId.get(String(id))!.sku}`)).toHaveLength(1);
      }
      // ...and no product was asked for more often than its two rounds.
      for (let id = 1; id <= 100; id++) expect(catalogPaths.filter((p) => p === `/products/${id}`).length).toBeLessThanOrEqual(id <= 20 ? 2 : 1);

      await startRedis();
      await eventually(async () => (await adminStats(gw.url)).redisConnected === true);
      await probe.connect();
      expect(await probe.dbSize()).toBe(0); // a fresh, empty Redis
      const r = await gw.gql('query($id: ID!) { product(id: $id) { id title } }', { id: '150' });
      expect(r.body.data.product.id).toBe('150');
      // The gateway wrote to the new Redis again, by itself.
      await eventually(async () => (await probe.dbSize()) > 0);
      const keys = await probe.keys(`${namespace}:v1:*`);
      expect(keys.some((k) => k.includes('catalog:productById'))).toBe(true);
    } finally {
      await probe.quit().catch(() => {});
      await gw.close();
    }
  });
});

describe('Redis without a memory layer (CACHE_MEMORY_LAYER=off)', () => {
  it('every read goes to Redis: the page is served from Redis, and once its keys are gone from Redis the upstreams are called again', async () => {
    const namespace = `tributary-test-${randomUUID()}`;
    const stack = await startStack({ env: { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_TIMEOUT_MS: '1000', CACHE_NAMESPACE: namespace, CACHE_MEMORY_LAYER: 'off' } });
    const redis = createClient({ url: 'redis://127.0.0.1:6379' });
    await redis.connect();
    try {
      const first = await post(stack.url, { query: OPERATIONS.ProductPage, variables: vars });
      expect(first.body.errors).toBeUndefined();
      const keys = await redis.keys(`${namespace}:*`);
      expect(keys.length).toBeGreaterThan(0);

      stack.sandbox.upstream('pricing').resetStats();
      const second = await post(stack.url, { query: OPERATIONS.ProductPage, variables: vars });
      expect(second.body).toEqual(first.body);
      expect(stack.sandbox.upstream('pricing').stats().total).toBe(0);

      // With a memory layer this would still be a hit; without one, removing the keys from Redis is a miss.
      await redis.del(keys);
      const third = await post(stack.url, { query: OPERATIONS.ProductPage, variables: vars });
      expect(third.body).toEqual(first.body);
      expect(stack.sandbox.upstream('pricing').stats().total).toBe(2);
    } finally {
      await redis.quit();
      await stack.close();
    }
  });
});

/**
 * A TCP proxy in front of Redis that makes it slow, not down: requests pass at once, and each reply is
 * held `delayMs` before it goes back (in order). It records the commands it passes on, by name.
 */
async function slowRedis(redisPort: number, delayMs: number) {
  let delay = delayMs;
  let pending = 0;
  const sent: string[] = []; // what each client connection sent, RESP as text
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((client) => {
    const redis = connect(redisPort, '127.0.0.1');
    for (const s of [client, redis]) sockets.add(s);
    const conn = sent.push('') - 1;
    let lastDue = 0;
    client.on('data', (d: Buffer) => {
      sent[conn] += d.toString('latin1');
      redis.write(d);
    });
    redis.on('data', (d: Buffer) => {
      // Never earlier than the reply before it, so replies keep their order when the delay changes.
      const due = Math.max(Date.now() + delay, lastDue);
      lastDue = due;
      pending++;
      const t = setTimeout(() => {
        timers.delete(t);
        pending--;
        if (!client.destroyed) client.write(d);
      }, due - Date.now());
      timers.add(t);
    });
    const end = () => {
      client.destroy();
      redis.destroy();
    };
    for (const s of [client, redis]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  return {
    url: `redis://127.0.0.1:${port}`,
    setDelay: (ms: number) => (delay = ms),
    /** Replies held back, not yet passed on. */
    pending: () => pending,
    /** Names of the commands clients sent (`MGET`, `SET`, ...), in order. */
    commands: () => sent.flatMap((text) => [...text.matchAll(/\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n/g)].map((m) => m[1]!.toUpperCase())),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('a slow Redis (answering, but later than REDIS_TIMEOUT_MS)', () => {
  // Generous enough that a quick Redis never misses it on a loaded CI machine (20 ms once did);
  // the slow phase holds every reply 10 times longer.
  const REDIS_TIMEOUT_MS = 100;
  const reads = (commands: string[]) => commands.filter((c) => c === 'MGET' || c === 'GET').length;
  /** Calls per route, over every upstream of a sandbox. */
  const routeCounts = (sb: Sandbox) => Object.fromEntries(Object.entries(sb.upstreams).map(([name, u]) => [name, u.stats().counts]));

  it('every query still answers, from the upstreams, though Redis holds every key; once Redis is quick again it is used', async () => {
    const namespace = `tributary-test-${randomUUID()}`;
    const proxy = await slowRedis(6379, 10 * REDIS_TIMEOUT_MS);
    const direct = await startStack({ env: { REDIS_URL: 'redis://127.0.0.1:6379', CACHE_NAMESPACE: namespace } });
    const slow = await startStack({ env: { REDIS_URL: proxy.url, CACHE_NAMESPACE: namespace, REDIS_TIMEOUT_MS: String(REDIS_TIMEOUT_MS), ADMIN_TOKEN } });
    const page = (url: string, id: string) => post(url, { query: OPERATIONS.ProductPage, variables: { ...vars, id } });
    try {
      // A gateway that reaches Redis directly fills it with pages 1..5 from a cold cache (what that
      // costs is counted), then page 6.
      const filled = new Map<string, unknown>();
      const fill = async (id: string) => {
        const r = await page(direct.url, id);
        expect(r.body.errors).toBeUndefined();
        filled.set(id, r.body);
      };
      for (const id of ['1', '2', '3', '4', '5']) await fill(id);
      const coldCost = routeCounts(direct.sandbox);
      await fill('6');

      // The slow gateway's client is connected: its handshake went through the proxy, only slowly.
      await eventually(async () => (await adminStats(slow.url)).redisConnected === true);
      const readsBefore = reads(proxy.commands());
      for (const id of ['1', '2', '3', '4', '5']) {
        const r = await page(slow.url, id);
        expect(r.status).toBe(200);
        expect(r.body).toEqual(filled.get(id));
      }
      // It asked Redis, which had every answer, too late: each page cost what it costs from a cold cache.
      expect(reads(proxy.commands()) - readsBefore).toBeGreaterThan(0);
      expect(routeCounts(slow.sandbox)).toEqual(coldCost);

      // Redis quick again (and every slow reply delivered): page 6, filled by the other gateway, is
      // answered from Redis without a call.
      proxy.setDelay(0);
      await eventually(() => proxy.pending() === 0);
      slow.resetStats();
      expect((await page(slow.url, '6')).body).toEqual(filled.get('6'));
      expect(Object.values(slow.sandbox.upstreams).reduce((n, u) => n + u.stats().total, 0)).toBe(0);
    } finally {
      await slow.close();
      await direct.close();
      await proxy.close();
    }
  });
});
