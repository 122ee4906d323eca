/**
 * Replicas sharing one Redis: real gateway processes (`node src/main.ts`), the machine's Redis on
 * 127.0.0.1:6379 under a namespace of their own, and a private redis-server we can stop and restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createClient } from '@redis/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SANDBOX_CREDENTIALS, startSandbox, type Sandbox } from '../sandbox/index.js';
import { OPERATIONS, post, startStack } from './support/stack.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ADMIN_TOKEN = `admin-${randomUUID()}`;
const vars = { id: '1', country: 'US', postcode: '10001' };

let sandbox: Sandbox;

function upstreamEnv(): Record<string, string> {
  const c = DEFAULT_SANDBOX_CREDENTIALS;
  return {
    ...Object.fromEntries(Object.entries(sandbox.urls).map(([name, url]) => [`UPSTREAM_${name.toUpperCase()}_URL`, url])),
    PRICING_TOKEN: c.pricingToken,
    INVENTORY_API_KEY: c.inventoryApiKey,
    REVIEWS_TOKEN: c.reviewsToken,
    RECOMMENDATIONS_API_KEY: c.recommendationsApiKey,
    SHIPPING_CLIENT_ID: c.shippingClientId,
    SHIPPING_CLIENT_SECRET: c.shippingClientSecret,
    TAX_USERNAME: c.taxUsername,
    TAX_PASSWORD: c.taxPassword,
    ACCOUNTS_TOKEN: c.accountsToken,
  };
}

interface Replica {
  url: string;
  child: ChildProcess;
}

/** Start `node --import tsx src/main.ts` and wait for its "listening" log line. */
function startReplica(env: Record<string, string>): Promise<Replica> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`replica did not start: ${out}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"url":"(http:\/\/[^"]+)\/graphql"[^\n]*"msg":"tributary listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => reject(new Error(`replica exited (${code}): ${out}`)));
  });
}

function stop(r: Replica | undefined): Promise<void> {
  if (!r || r.child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    r.child.once('exit', () => resolve());
    r.child.kill('SIGTERM');
  });
}

const totalCalls = () => Object.values(sandbox.upstreams).reduce((n, u) => n + u.stats().total, 0);
const resetStats = () => Object.values(sandbox.upstreams).forEach((u) => u.resetStats());

async function adminStats(url: string): Promise<{ invalidationsReceived?: number; redisConnected?: boolean }> {
  const res = await fetch(`${url}/admin/cache/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return (await res.json()) as { invalidationsReceived?: number; redisConnected?: boolean };
}

async function waitFor(cond: () => Promise<boolean> | boolean, maxMs = 15_000): Promise<void> {
  const until = Date.now() + maxMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

beforeAll(async () => {
  sandbox = await startSandbox({ portBase: 0, seed: 3, latencyMs: { catalog: 2, pricing: 2, inventory: 2, reviews: 2, recommendations: 2, shipping: 2, tax: 2, accounts: 2 } });
});
afterAll(async () => {
  await sandbox?.close();
});
beforeEach(() => resetStats());

describe('two gateway processes sharing one Redis', () => {
  let a: Replica | undefined;
  let b: Replica | undefined;
  beforeAll(async () => {
    const env = { ...upstreamEnv(), REDIS_URL: 'redis://127.0.0.1:6379', CACHE_NAMESPACE: `tributary-test-${randomUUID()}`, ADMIN_TOKEN };
    [a, b] = await Promise.all([startReplica(env), startReplica(env)]);
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
    await waitFor(async () => ((await adminStats(b!.url)).invalidationsReceived ?? 0) > before);

    resetStats();
    const r = await post(b!.url, { query: OPERATIONS.ProductPage, variables: vars });
    expect(r.body.errors).toBeUndefined();
    expect(sandbox.upstreams.pricing.stats().total).toBe(2); // the product's price and the recommended products' prices
    expect(totalCalls()).toBe(2); // nothing else was invalidated
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

      await startRedis();
      await waitFor(async () => (await adminStats(gw.url)).redisConnected === true);
      await probe.connect();
      expect(await probe.dbSize()).toBe(0); // a fresh, empty Redis
      const r = await gw.gql('query($id: ID!) { product(id: $id) { id title } }', { id: '150' });
      expect(r.body.data.product.id).toBe('150');
      // The gateway wrote to the new Redis again, by itself.
      await waitFor(async () => (await probe.dbSize()) > 0);
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
    const stack = await startStack({ env: { REDIS_URL: 'redis://127.0.0.1:6379', CACHE_NAMESPACE: namespace, CACHE_MEMORY_LAYER: 'off' } });
    const redis = createClient({ url: 'redis://127.0.0.1:6379' });
    await redis.connect();
    try {
      const first = await post(stack.url, { query: OPERATIONS.ProductPage, variables: vars });
      expect(first.body.errors).toBeUndefined();
      const keys = await redis.keys(`${namespace}:*`);
      expect(keys.length).toBeGreaterThan(0);

      stack.sandbox.upstreams.pricing.resetStats();
      const second = await post(stack.url, { query: OPERATIONS.ProductPage, variables: vars });
      expect(second.body).toEqual(first.body);
      expect(stack.sandbox.upstreams.pricing.stats().total).toBe(0);

      // With a memory layer this would still be a hit; without one, removing the keys from Redis is a miss.
      await redis.del(keys);
      const third = await post(stack.url, { query: OPERATIONS.ProductPage, variables: vars });
      expect(third.body).toEqual(first.body);
      expect(stack.sandbox.upstreams.pricing.stats().total).toBe(2);
    } finally {
      await redis.quit();
      await stack.close();
    }
  });
});
