/**
 * One cache for every consumer, in one gateway process: per-key caching, coalescing across requests,
 * user scope, the memory bound, and Cache-Control.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS } from '../src/config.js';
import { MemoryStore, effectiveTtl } from '../src/connector/index.js';
import { signUserToken } from '../src/identity.js';
import { products } from './support/expected.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    env: { CACHE: 'on', HEDGING: 'off' },
    sandbox: { latencyMs: { catalog: 5, pricing: 5, inventory: 5, reviews: 2, recommendations: 2, shipping: 2 } },
  });
});
afterAll(async () => {
  await stack?.close();
});
beforeEach(() => stack.resetStats());

describe('coalescing and per-key caching', () => {
  it('100 concurrent identical CategoryPage queries cost one call per upstream key', async () => {
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => stack.gql(OPERATIONS.CategoryPage, { slug: 'groceries', first: 20 })),
    );
    for (const a of answers) {
      expect(a.body.errors).toBeUndefined();
      expect(a.body.data.category.products.nodes).toHaveLength(20);
    }
    expect(stack.sandbox.upstream('catalog').stats().counts).toEqual({ 'GET /products/categories': 1, 'GET /products/category/:slug': 1 });
    expect(stack.sandbox.upstream('pricing').stats().total).toBe(1);
    expect(stack.sandbox.upstream('inventory').stats().total).toBe(1);
  });

  it('a CategoryPage whose 20 prices are 15 cached asks pricing for the 5 others only', async () => {
    const page = products.filter((p) => p.category === 'kitchen-accessories').slice(0, 20);
    // Warm the price of 15 of them, one query each (so their keys are cached, not the page's).
    for (const p of page.slice(0, 15)) {
      const r = await stack.gql('query($id: ID!) { product(id: $id) { price { sale { amount } } } }', { id: String(p.id) });
      expect(r.body.data.product.price).not.toBeNull();
    }
    stack.resetStats();
    const r = await stack.gql(OPERATIONS.CategoryPage, { slug: 'kitchen-accessories', first: 20 });
    expect(r.body.errors).toBeUndefined();
    const calls = stack.sandbox.upstream('pricing').stats().requests;
    expect(calls).toHaveLength(1);
    const asked = new URL(`http://x${calls[0]!.path}`).searchParams.get('skus')!.split(',');
    expect(asked.sort()).toEqual(page.slice(15).map((p) => p.sku).sort());
  });
});

describe('user scope', () => {
  it('2,000 interleaved ProductPage queries from users 1, 2 and anonymous each get their own recommendations', async () => {
    const token1 = await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '1');
    const token2 = await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '2');
    const who = [
      { userId: '1', headers: { authorization: `Bearer ${token1}` } as Record<string, string> },
      { userId: '2', headers: { authorization: `Bearer ${token2}` } as Record<string, string> },
      { userId: undefined, headers: {} as Record<string, string> },
    ];
    const productIds = ['1', '2', '3', '4', '5'];
    const expected = new Map<string, string>();
    for (const productId of productIds) {
      for (const w of who) {
        const q = new URLSearchParams({ productId, limit: '4', ...(w.userId ? { userId: w.userId } : {}) });
        const res = await fetch(`${stack.sandbox.urls.recommendations}/recommendations?${q}`, {
          headers: { 'x-api-key': stack.credentials.recommendationsApiKey! },
        });
        expected.set(`${productId}/${w.userId ?? 'anon'}`, ((await res.json()) as { productIds: number[] }).productIds.join(','));
      }
    }
    let next = 0;
    let wrong = 0;
    let answered = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < 2_000) {
          const i = next++;
          const w = who[i % 3]!;
          const productId = productIds[Math.floor(i / 3) % productIds.length]!;
          const r = await stack.gql(OPERATIONS.ProductPage, { id: productId, country: 'US', postcode: '10001' }, w.headers);
          const got = r.body.data.product.recommendations.map((p: { id: string }) => p.id).join(',');
          answered++;
          if (got !== expected.get(`${productId}/${w.userId ?? 'anon'}`)) wrong++;
        }
      }),
    );
    expect(answered).toBe(2_000);
    expect(wrong).toBe(0);
    // Cached per user: one recommendations call per product and identity, not per query.
    expect(stack.sandbox.upstream('recommendations').stats().total).toBe(productIds.length * who.length + 15);
  });
});

describe('stores', () => {
  it('the memory store stays at its bound when filled past it', async () => {
    const store = new MemoryStore({ maxEntries: 100 });
    for (let i = 0; i < 1_000; i++) await store.set(`k${i}`, { value: i, freshUntil: Date.now() + 60_000 }, 60_000);
    expect(store.size).toBe(100);
    const [oldest, newest] = await store.getMany(['k0', 'k999']);
    expect(oldest).toBeUndefined();
    expect(newest?.value).toBe(999);
  });

  it('the gateway\'s memory cache is bounded by CACHE_MAX_ENTRIES', async () => {
    const small = await startStack({ env: { CACHE: 'on', CACHE_MAX_ENTRIES: '50' }, sandbox: { latencyMs: { catalog: 1, pricing: 1, inventory: 1 } } });
    try {
      for (const slug of ['groceries', 'kitchen-accessories', 'smartphones', 'sports-accessories']) {
        const r = await small.gql(OPERATIONS.CategoryPage, { slug, first: 20 });
        expect(r.body.errors).toBeUndefined();
      }
      const store = small.gateway.connector.cacheStore as MemoryStore;
      expect(store.size).toBe(50);
    } finally {
      await small.close();
    }
  });
});

describe('Cache-Control from the upstream', () => {
  const policy = { ttlMs: 60_000, scope: 'public' as const };
  it.each([
    [undefined, 60_000],
    ['max-age=10', 10_000],
    ['public, max-age=600', 60_000],
    ['max-age=30, s-maxage=5', 5_000],
    ['no-store', 0],
    ['no-cache', 0],
    ['private, max-age=30', 0],
    ['max-age=0', 0],
  ])('%s gives a TTL of %i ms', (cc, ttl) => {
    expect(effectiveTtl(policy, cc)).toBe(ttl);
  });

  it('private is kept for a user-scoped entry', () => {
    expect(effectiveTtl({ ttlMs: 60_000, scope: 'user' }, 'private, max-age=30')).toBe(30_000);
  });
});
