import { request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_SANDBOX_CREDENTIALS as CREDS,
  UPSTREAM_NAMES,
  sandboxCredentialsFromEnv,
  sandboxOptionsFromEnv,
  startSandbox,
} from '../sandbox/index.js';
import type { FaultSpec, Sandbox, UpstreamName } from '../sandbox/index.js';
import {
  anonymousRecommendations,
  categoryName,
  categorySlugs,
  multiplyRoundCents,
  personalisedRecommendations,
  priceOf,
  productById,
  products,
  productsByCategory,
  reviewsOf,
  roundHalfUpCents,
  salePrice,
  shippingQuote,
  shippingUnitCost,
  stockStatus,
  taxQuote,
  userById,
} from '../sandbox/data.js';

// ---------------------------------------------------------------------------------------------
// Set-up and helpers
// ---------------------------------------------------------------------------------------------

let sb: Sandbox;
let clock = Date.UTC(2030, 0, 1);
/** A default credential by key (throws for a key no sandbox upstream declares). */
function cred(key: string): string {
  const v = CREDS[key];
  if (v === undefined) throw new Error(`no sandbox credential '${key}'`);
  return v;
}
const ZERO_LATENCY = Object.fromEntries(UPSTREAM_NAMES.map((n) => [n, 0])) as Record<UpstreamName, number>;

beforeAll(async () => {
  sb = await startSandbox({ portBase: 0, latencyMs: ZERO_LATENCY, seed: 1234, shippingTokenTtlS: 60, now: () => clock });
});
afterAll(async () => {
  await sb?.close();
});
afterEach(() => {
  for (const n of UPSTREAM_NAMES) {
    sb.upstream(n).setFaults(null);
    sb.upstream(n).setLatency(0);
  }
});

interface Res {
  status: number;
  body: any;
  text: string;
  headers: Headers;
}

async function call(url: string, init: RequestInit = {}): Promise<Res> {
  const r = await fetch(url, init);
  const text = await r.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: r.status, body, text, headers: r.headers };
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
const jsonPost = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

const catalog = (path: string) => call(sb.url('catalog') + path);
const prices = (skus: string, token = cred('pricingToken')) => call(`${sb.url('pricing')}/v1/prices?skus=${skus}`, { headers: bearer(token) });
const stock = (body: unknown, key = cred('inventoryApiKey')) => call(`${sb.url('inventory')}/stock/lookup`, jsonPost(body, { 'x-api-key': key }));
const reviews = (ids: string) => call(`${sb.url('reviews')}/reviews?productIds=${ids}`, { headers: bearer(cred('reviewsToken')) });
const recs = (qs: string, key = cred('recommendationsApiKey')) => call(`${sb.url('recommendations')}/recommendations?${qs}`, { headers: { 'x-api-key': key } });
const taxq = (body: unknown, u = cred('taxUsername'), p = cred('taxPassword')) => call(`${sb.url('tax')}/v1/tax/quote`, jsonPost(body, basic(u, p)));
const user = (id: string, token = cred('accountsToken')) => call(`${sb.url('accounts')}/users/${id}`, { headers: bearer(token) });

async function token(): Promise<string> {
  const r = await call(`${sb.url('shipping')}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...basic(cred('shippingClientId'), cred('shippingClientSecret')) },
    body: 'grant_type=client_credentials',
  });
  expect(r.status).toBe(200);
  return r.body.access_token;
}
const quote = (body: unknown, tok: string) => call(`${sb.url('shipping')}/quotes`, jsonPost(body, bearer(tok)));

/** A raw HTTP/1.1 request (no URL normalisation by the client). */
function raw(url: string, path: string, opts: { method?: string; headers?: Record<string, string | number>; body?: Buffer | string } = {}) {
  const u = new URL(url);
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lastEntry = (n: UpstreamName) => sb.upstream(n).stats().requests.at(-1)!;

// ---------------------------------------------------------------------------------------------
// Data rules
// ---------------------------------------------------------------------------------------------

describe('data rules', () => {
  it('rounds money exactly half-up to cents', () => {
    expect(roundHalfUpCents(1.005)).toBe(1.01);
    expect(roundHalfUpCents(1.004999)).toBe(1);
    expect(roundHalfUpCents(8.943048000000001)).toBe(8.94);
    expect(roundHalfUpCents(2.675)).toBe(2.68);
    expect(roundHalfUpCents(-1.005)).toBe(-1.01);
    expect(multiplyRoundCents(0.0725, 100)).toBe(7.25);
    expect(multiplyRoundCents(0.0725, 1.1)).toBe(0.08); // 0.07975
    expect(multiplyRoundCents(0.2, 0.025)).toBe(0.01); // 0.005 exactly: half-up
    expect(salePrice(9.99, 10.48)).toBe(8.94);
    expect(shippingUnitCost(4)).toBe(6.99);
  });

  it('computes every sale price exactly', () => {
    for (const p of products) {
      // integer arithmetic: cents x basis points, rounded half-up
      const n = Math.round(p.price * 100) * Math.round((100 - p.discountPercentage) * 100);
      const cents = Math.floor((n * 2 + 10_000) / 20_000);
      expect(salePrice(p.price, p.discountPercentage), p.sku).toBe(cents / 100);
    }
  });

  it('maps statuses, categories and recommendations', () => {
    expect(stockStatus('In Stock')).toBe('IN_STOCK');
    expect(stockStatus('Low Stock')).toBe('LOW_STOCK');
    expect(stockStatus('Out of Stock')).toBe('OUT_OF_STOCK');
    expect(categoryName('home-decoration')).toBe('Home Decoration');
    expect(anonymousRecommendations(1, 4)).toEqual([3, 4, 5, 2]);
    expect(anonymousRecommendations(99999)).toEqual([]);
    for (let id = 1; id <= 5; id++) {
      const a = anonymousRecommendations(id);
      const u1 = personalisedRecommendations(id, 1);
      const u2 = personalisedRecommendations(id, 2);
      expect(new Set([a, u1, u2].map((l) => l.join(','))).size, `product ${id}`).toBe(3);
      for (const l of [a, u1, u2]) {
        expect(l).toHaveLength(4);
        expect(new Set(l).size).toBe(4);
        expect(l).not.toContain(id);
      }
    }
    expect(personalisedRecommendations(1, 99999)).toEqual(anonymousRecommendations(1));
    expect(personalisedRecommendations(99999, 1)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// catalog
// ---------------------------------------------------------------------------------------------

describe('catalog', () => {
  it('lists products with DummyJSON paging', async () => {
    const r = await catalog('/products');
    expect(r.status).toBe(200);
    expect(r.body.total).toBe(194);
    expect(r.body.skip).toBe(0);
    expect(r.body.limit).toBe(30);
    expect(r.body.products.map((p: any) => p.id)).toEqual(products.slice(0, 30).map((p) => p.id));
    expect(r.body.products[0]).toEqual(products[0]);

    const all = await catalog('/products?limit=0');
    expect(all.body.products).toHaveLength(194);
    const tail = await catalog('/products?limit=10&skip=190');
    expect(tail.body).toMatchObject({ total: 194, skip: 190, limit: 4 });
    expect(tail.body.products.map((p: any) => p.id)).toEqual([191, 192, 193, 194]);
  });

  it('selects and sorts', async () => {
    const r = await catalog('/products?limit=5&select=title,price&sortBy=price&order=desc');
    const expected = [...products].sort((a, b) => b.price - a.price || a.id - b.id).slice(0, 5);
    expect(r.body.products).toEqual(expected.map((p) => ({ id: p.id, title: p.title, price: p.price })));
    const asc = await catalog('/products?limit=3&select=rating&sortBy=rating');
    expect(asc.body.products).toEqual([...products].sort((a, b) => a.rating - b.rating || a.id - b.id).slice(0, 3).map((p) => ({ id: p.id, rating: p.rating })));
    expect((await catalog('/products?order=sideways')).status).toBe(400);
    for (const bad of ['limit=-1', 'limit=abc', 'limit=1.5', 'skip=1e3', 'limit=99999999999999999999', 'limit=1&limit=2']) {
      const b = await catalog(`/products?${bad}`);
      expect(b.status, bad).toBe(400);
      expect(typeof b.body.message).toBe('string');
    }
  });

  it('gets one product, with select', async () => {
    expect((await catalog('/products/1')).body).toEqual(productById.get(1));
    expect((await catalog('/products/%31')).body.id).toBe(1);
    expect((await catalog('/products/2?select=sku,stock')).body).toEqual({ id: 2, sku: products[1]!.sku, stock: products[1]!.stock });
  });

  it('answers 404 for anything not a known positive integer id, and records the raw path', async () => {
    for (const [path, x] of [
      ['/products/0', '0'],
      ['/products/195', '195'],
      ['/products/01', '01'],
      ['/products/1.0', '1.0'],
      ['/products/-1', '-1'],
      ['/products/abc', 'abc'],
      ['/products/..%2Fusers%2F1', '../users/1'],
      ['/products/%E0%A4%A', '%E0%A4%A'],
      ['/products/%22%3Cx%3E', '"<x>'],
    ] as const) {
      const r = await catalog(path);
      expect(r.status, path).toBe(404);
      expect(r.body, path).toEqual({ message: `Product with id '${x}' not found` });
      expect(lastEntry('catalog')).toMatchObject({ path, route: 'GET /products/:id', status: 404 });
    }
    const dots = await raw(sb.url('catalog'), '/products/../users/1');
    expect(dots.status).toBe(404);
  });

  it('searches', async () => {
    const r = await catalog('/products/search?q=PHONE&limit=0&select=title');
    const expected = products.filter((p) => [p.title, p.description, p.brand ?? '', p.category, ...p.tags].join(' ').toLowerCase().includes('phone'));
    expect(r.body.total).toBe(expected.length);
    expect(r.body.products.map((p: any) => p.id)).toEqual(expected.map((p) => p.id));
    expect((await catalog('/products/search?q=zzzzqqq')).body).toEqual({ products: [], total: 0, skip: 0, limit: 0 });
  });

  it('lists categories', async () => {
    const r = await catalog('/products/categories');
    expect(r.body).toHaveLength(categorySlugs.length);
    expect(r.body).toContainEqual({ slug: 'home-decoration', name: 'Home Decoration', url: `${sb.url('catalog')}/products/category/home-decoration` });
    expect((await catalog('/products/category-list')).body).toEqual(categorySlugs);
  });

  it('lists a category', async () => {
    const r = await catalog('/products/category/smartphones?limit=3&skip=1');
    const all = productsByCategory.get('smartphones')!;
    expect(r.body.total).toBe(all.length);
    expect(r.body.products.map((p: any) => p.id)).toEqual(all.slice(1, 4).map((p) => p.id));
    expect((await catalog('/products/category/nope')).body).toEqual({ products: [], total: 0, skip: 0, limit: 0 });
  });

  it('answers 404/405 JSON for unknown routes', async () => {
    const r = await catalog('/nope/../../etc/passwd');
    expect(r.status).toBe(404);
    expect(typeof r.body.message).toBe('string');
    const m = await call(`${sb.url('catalog')}/products/1`, { method: 'DELETE' });
    expect(m.status).toBe(405);
    expect(m.headers.get('allow')).toBe('GET');
  });
});

// ---------------------------------------------------------------------------------------------
// pricing, inventory, reviews, recommendations, shipping, tax, accounts
// ---------------------------------------------------------------------------------------------

describe('pricing', () => {
  it('prices SKUs in the order asked, unknown left out, duplicates once', async () => {
    const r = await prices('BEA-ESS-ESS-001');
    expect(r.body).toEqual({ prices: [{ sku: 'BEA-ESS-ESS-001', currency: 'USD', list: 9.99, sale: 8.94, discountPercentage: 10.48 }] });
    const skus = [products[5]!.sku, 'NOPE', products[0]!.sku, products[5]!.sku];
    const m = await prices(skus.join(','));
    expect(m.body.prices).toEqual([priceOf(products[5]!), priceOf(products[0]!)]);
  });

  it('validates', async () => {
    const fifty = products.slice(0, 50).map((p) => p.sku);
    expect((await prices(fifty.join(','))).body.prices).toHaveLength(50);
    expect((await prices([...fifty, products[50]!.sku].join(','))).status).toBe(400);
    expect((await call(`${sb.url('pricing')}/v1/prices`, { headers: bearer(cred('pricingToken')) })).status).toBe(400);
  });
});

describe('inventory', () => {
  it('looks up stock', async () => {
    const r = await stock({ skus: ['BEA-ESS-ESS-001', 'NOPE'] });
    expect(r.body).toEqual({ items: [{ sku: 'BEA-ESS-ESS-001', onHand: 99, status: 'IN_STOCK' }] });
    const low = products.find((p) => p.availabilityStatus === 'Low Stock')!;
    expect((await stock({ skus: [low.sku] })).body.items).toEqual([{ sku: low.sku, onHand: low.stock, status: 'LOW_STOCK' }]);
  });

  it('validates', async () => {
    expect((await stock('{"skus":[')).status).toBe(400);
    expect((await stock('[]')).status).toBe(400);
    expect((await stock({ skus: 'BEA' })).status).toBe(400);
    expect((await stock({ skus: [1] })).status).toBe(400);
    expect((await stock({ skus: products.slice(0, 101).map((p) => p.sku) })).status).toBe(400);
    expect((await stock({ skus: products.slice(0, 100).map((p) => p.sku) })).body.items).toHaveLength(100);
  });
});

describe('reviews', () => {
  it('answers reviews per id in the order asked', async () => {
    const r = await reviews('2,1,99999,2');
    expect(r.body.reviews).toEqual([...reviewsOf(2), ...reviewsOf(1)]);
    expect(r.body.reviews[3]).toEqual({
      productId: 1,
      rating: 3,
      comment: 'Would not recommend!',
      date: '2025-04-30T09:41:02.053Z',
      reviewerName: 'Eleanor Collins',
      reviewerEmail: 'eleanor.collins@x.dummyjson.com',
    });
    expect((await reviews('1,abc')).status).toBe(400);
    expect((await reviews('0')).status).toBe(400);
  });
});

describe('recommendations', () => {
  it('recommends anonymously and personalised', async () => {
    expect((await recs('productId=1&limit=4')).body).toEqual({ productIds: [3, 4, 5, 2] });
    expect((await recs('productId=1')).body.productIds).toEqual([3, 4, 5, 2]);
    expect((await recs('productId=99999')).body.productIds).toEqual([]);
    for (const id of [1, 20, 100, 194]) {
      expect((await recs(`productId=${id}&limit=10`)).body.productIds).toEqual(anonymousRecommendations(id, 10));
      for (const u of [1, 2, 50]) {
        expect((await recs(`productId=${id}&userId=${u}&limit=6`)).body.productIds).toEqual(personalisedRecommendations(id, u, 6));
      }
    }
    const u1 = (await recs('productId=1&userId=1')).body.productIds;
    const u2 = (await recs('productId=1&userId=2')).body.productIds;
    expect(u1).not.toEqual(u2);
    expect(u1).not.toEqual([3, 4, 5, 2]);
    expect((await recs('productId=1&userId=99999')).body.productIds).toEqual([3, 4, 5, 2]);
  });

  it('validates', async () => {
    for (const q of ['', 'productId=0', 'productId=x', 'productId=1&limit=0', 'productId=1&limit=51', 'productId=1&limit=2.5', 'productId=1&userId=-1']) {
      expect((await recs(q)).status, q).toBe(400);
    }
    expect((await recs('productId=1&limit=50')).status).toBe(200);
  });
});

describe('shipping', () => {
  it('issues tokens and quotes', async () => {
    const tok = await token();
    const r = await quote({ country: 'US', postcode: '10001', items: [{ sku: 'BEA-ESS-ESS-001', quantity: 2 }] }, tok);
    expect(r.body).toEqual({ quotes: [{ sku: 'BEA-ESS-ESS-001', carrier: 'STANDARD', minDays: 3, maxDays: 5, cost: 6.99 }], total: 13.98 });
    const items = [
      { sku: products[4]!.sku, quantity: 3 }, // ships overnight
      { sku: 'NOPE', quantity: 1 },
      { sku: products[10]!.sku, quantity: 1 },
    ];
    const m = await quote({ country: 'gb', postcode: 'SW1A 1AA', items }, tok);
    expect(m.body).toEqual(shippingQuote(items));
    expect(m.body.quotes[0]).toMatchObject({ carrier: 'EXPRESS', minDays: 1, maxDays: 1 });
    expect(m.body.total).toBe(multiplyRoundCents(m.body.quotes[0].cost, 3) + m.body.quotes[1].cost);
  });

  it('accepts client credentials in a JSON body and refuses wrong ones', async () => {
    const url = `${sb.url('shipping')}/oauth/token`;
    const ok = await call(url, jsonPost({ grant_type: 'client_credentials', client_id: cred('shippingClientId'), client_secret: cred('shippingClientSecret') }));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ token_type: 'Bearer', expires_in: 60 });
    expect(ok.body.access_token).toMatch(/^[\w-]{20,}$/);
    const form = await call(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: cred('shippingClientId'), client_secret: cred('shippingClientSecret') }).toString(),
    });
    expect(form.status).toBe(200);
    const wrong = await call(url, jsonPost({ grant_type: 'client_credentials', client_id: cred('shippingClientId'), client_secret: 'guess' }));
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ message: 'unauthorized' });
    expect((await call(url, jsonPost({ grant_type: 'client_credentials' }))).status).toBe(401);
    const grant = await call(url, { method: 'POST', headers: basic(cred('shippingClientId'), cred('shippingClientSecret')), body: 'grant_type=password' });
    expect(grant.status).toBe(400);
    expect(grant.body.error).toBe('unsupported_grant_type');
  });

  it('expires tokens (injected clock)', async () => {
    const tok = await token();
    const body = { country: 'US', postcode: '1', items: [] };
    expect((await quote(body, tok)).body).toEqual({ quotes: [], total: 0 });
    clock += 59_000;
    expect((await quote(body, tok)).status).toBe(200);
    clock += 1_000;
    const expired = await quote(body, tok);
    expect(expired.status).toBe(401);
    expect(expired.body).toEqual({ message: 'unauthorized' });
    expect((await quote(body, 'made-up-token')).status).toBe(401);
    expect((await call(`${sb.url('shipping')}/quotes`, jsonPost(body))).status).toBe(401);
  });

  it('validates quotes', async () => {
    const tok = await token();
    const item = { sku: 'BEA-ESS-ESS-001', quantity: 1 };
    for (const body of [
      { country: 'USA', postcode: '1', items: [item] },
      { country: 'U1', postcode: '1', items: [item] },
      { postcode: '1', items: [item] },
      { country: 'US', postcode: 1, items: [item] },
      { country: 'US', postcode: '1', items: 'x' },
      { country: 'US', postcode: '1', items: [{ sku: 'x', quantity: 0 }] },
      { country: 'US', postcode: '1', items: [{ sku: 'x', quantity: 1.5 }] },
      { country: 'US', postcode: '1', items: [{ sku: 'x', quantity: '2' }] },
      { country: 'US', postcode: '1', items: [{ quantity: 2 }] },
    ]) {
      const r = await quote(body, tok);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(typeof r.body.message).toBe('string');
    }
    expect((await quote('not json', tok)).status).toBe(400);
  });
});

describe('tax', () => {
  it('quotes tax by country', async () => {
    expect((await taxq({ country: 'US', postcode: '10001', amount: 100 })).body).toEqual({ rate: 0.0725, tax: 7.25 });
    for (const [c, amount] of [
      ['gb', 19.99],
      ['DE', 10.05],
      ['FR', 0.025],
      ['JP', 100],
      ['us', 1.1],
    ] as const) {
      const r = await taxq({ country: c, postcode: 'x', amount });
      expect(r.body, c).toEqual(taxQuote(c, amount));
    }
    expect((await taxq({ country: 'DE', postcode: 'x', amount: 10.05 })).body).toEqual({ rate: 0.19, tax: 1.91 });
  });

  it('validates', async () => {
    for (const body of [{ country: 'US', postcode: 'x', amount: '100' }, { country: 'US', postcode: 'x', amount: -1 }, { country: 'USA', postcode: 'x', amount: 1 }, { country: 'US', amount: 1 }]) {
      expect((await taxq(body)).status, JSON.stringify(body)).toBe(400);
    }
  });
});

describe('accounts', () => {
  it('returns the full user', async () => {
    const r = await user('1');
    expect(r.body).toEqual(userById.get(1));
    expect(r.body.password).toBeDefined();
    expect(r.body.ssn).toBeDefined();
    for (const id of ['0', '209', 'abc', '..%2F1']) {
      const n = await user(id);
      expect(n.status).toBe(404);
      expect(n.body).toEqual({ message: `User with id '${decodeURIComponent(id)}' not found` });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------------

describe('credentials', () => {
  it('refuses missing or wrong credentials with 401, without echoing them', async () => {
    const refusals: Res[] = [
      await prices('BEA-ESS-ESS-001', 'wrong-token'),
      await call(`${sb.url('pricing')}/v1/prices?skus=A`),
      await call(`${sb.url('pricing')}/v1/prices?skus=A`, { headers: { authorization: `Basic ${cred('pricingToken')}` } }),
      await stock({ skus: [] }, 'wrong-key'),
      await call(`${sb.url('inventory')}/stock/lookup`, jsonPost({ skus: [] }, bearer(cred('inventoryApiKey')))),
      await call(`${sb.url('reviews')}/reviews?productIds=1`, { headers: bearer(cred('pricingToken')) }),
      await recs('productId=1', 'wrong-key'),
      await taxq({ country: 'US', postcode: 'x', amount: 1 }, cred('taxUsername'), 'wrong-password'),
      await taxq({ country: 'US', postcode: 'x', amount: 1 }, 'wrong-user', cred('taxPassword')),
      await call(`${sb.url('tax')}/v1/tax/quote`, jsonPost({ country: 'US', postcode: 'x', amount: 1 })),
      await user('1', 'wrong-token'),
      await call(`${sb.url('accounts')}/users/1`),
    ];
    for (const r of refusals) {
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ message: 'unauthorized' });
    }
  });

  it('rotates credentials', async () => {
    const pricing = sb.upstream('pricing');
    pricing.setCredentials({ pricingToken: 'rotated-token' });
    try {
      expect((await prices('BEA-ESS-ESS-001')).status).toBe(401);
      expect((await prices('BEA-ESS-ESS-001', 'rotated-token')).status).toBe(200);
    } finally {
      pricing.setCredentials({ pricingToken: cred('pricingToken') });
    }
    const tok = await token();
    sb.upstream('shipping').setCredentials({ shippingClientSecret: 'new-secret' });
    try {
      expect((await quote({ country: 'US', postcode: '1', items: [] }, tok)).status).toBe(401); // old tokens revoked
      const r = await call(`${sb.url('shipping')}/oauth/token`, { method: 'POST', headers: basic(cred('shippingClientId'), cred('shippingClientSecret')), body: 'grant_type=client_credentials' });
      expect(r.status).toBe(401);
    } finally {
      sb.upstream('shipping').setCredentials({ shippingClientSecret: cred('shippingClientSecret') });
    }
  });

  it('reads credentials and options from the environment', () => {
    expect(sandboxCredentialsFromEnv({})).toEqual(CREDS);
    expect(sandboxCredentialsFromEnv({ PRICING_TOKEN: 'p', TAX_PASSWORD: 't' })).toMatchObject({ pricingToken: 'p', taxPassword: 't', taxUsername: 'sandbox-tax' });
    const o = sandboxOptionsFromEnv({
      SANDBOX_PORT_BASE: '5000',
      SANDBOX_LATENCY_MS: '3',
      SANDBOX_TAX_LATENCY_MS: '7',
      SANDBOX_PRICING_FAULTS: '{"error":{"probability":0.5,"status":503}}',
      SANDBOX_SHIPPING_TOKEN_TTL_S: '5',
      SANDBOX_SEED: '9',
    });
    expect(o).toMatchObject({ portBase: 5000, shippingTokenTtlS: 5, seed: 9, faults: { pricing: { error: { probability: 0.5, status: 503 } } } });
    expect(o.latencyMs).toMatchObject({ catalog: 3, tax: 7 });
    expect(() => sandboxOptionsFromEnv({ SANDBOX_PORT_BASE: 'x' })).toThrow(/SANDBOX_PORT_BASE/);
    expect(() => sandboxOptionsFromEnv({ SANDBOX_PRICING_FAULTS: '{"nope":1}' })).toThrow(/SANDBOX_PRICING_FAULTS/);
  });
});

// ---------------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------------

describe('stats', () => {
  it('counts routes, keeps request order and resets', async () => {
    const cat = sb.upstream('catalog');
    cat.resetStats();
    await catalog('/products/1');
    await catalog('/products/2?select=title');
    await catalog('/products?limit=1');
    await catalog('/nope');
    await catalog('/__stats'); // admin routes are not recorded
    await catalog('/openapi.json');
    const s = (await catalog('/__stats')).body;
    expect(s.counts).toEqual({ 'GET /products/:id': 2, 'GET /products': 1, 'GET *': 1 });
    expect(s.total).toBe(4);
    expect(s.requests.map((e: any) => e.path)).toEqual(['/products/1', '/products/2?select=title', '/products?limit=1', '/nope']);
    const e = s.requests[1];
    expect(e).toMatchObject({ method: 'GET', route: 'GET /products/:id', status: 200 });
    expect(e.headers.host).toBe(new URL(sb.url('catalog')).host);
    expect(e.end).toBeGreaterThanOrEqual(e.start);
    expect(Number.isInteger(e.start)).toBe(false); // sub-ms precision (true with overwhelming probability)
    expect(s.requests[0].end).toBeLessThanOrEqual(s.requests[1].start);
    const del = await call(`${sb.url('catalog')}/__stats`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(cat.stats()).toEqual({ counts: {}, total: 0, requests: [] });
  });

  it('shows overlapping requests', async () => {
    const cat = sb.upstream('catalog');
    cat.resetStats();
    cat.setLatency(40);
    const t0 = performance.now();
    await Promise.all([1, 2, 3].map((id) => catalog(`/products/${id}`)));
    expect(performance.now() - t0).toBeLessThan(110);
    const [a, b, c] = cat.stats().requests;
    for (const e of [a!, b!, c!]) expect(e.end - e.start).toBeGreaterThanOrEqual(35);
    expect(Math.max(a!.start, b!.start, c!.start)).toBeLessThan(Math.min(a!.end, b!.end, c!.end));
  });

  it('keeps only the most recent 1,000 requests but counts all; a listener is told of every one, across resets', async () => {
    const cat = sb.upstream('catalog');
    cat.resetStats();
    const heard: string[] = [];
    const stop = cat.onRecord((e) => heard.push(e.path));
    for (let i = 0; i < 1005; i += 67) {
      await Promise.all(Array.from({ length: Math.min(67, 1005 - i) }, (_, j) => catalog(`/products/category-list?n=${i + j}`)));
    }
    const s = cat.stats();
    expect(s.total).toBe(1005);
    expect(s.counts['GET /products/category-list']).toBe(1005);
    expect(s.requests).toHaveLength(1000);
    const ns = s.requests.map((e) => Number(new URL(e.path, 'http://x').searchParams.get('n')));
    expect(new Set(ns).size).toBe(1000);
    for (let i = 1; i < s.requests.length; i++) expect(s.requests[i]!.start).toBeGreaterThanOrEqual(s.requests[i - 1]!.start);
    expect(heard).toHaveLength(1005);
    expect(new Set(heard).size).toBe(1005);
    cat.resetStats();
    await catalog('/products/1');
    await catalog('/__stats'); // admin routes are not recorded, so not heard either
    expect(heard).toHaveLength(1006);
    expect(heard.at(-1)).toBe('/products/1');
    stop();
    await catalog('/products/2');
    expect(heard).toHaveLength(1006);
    expect(cat.stats().total).toBe(2);
    cat.resetStats();
  });
});

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

describe('faults', () => {
  const pricingFaults = (f: FaultSpec | unknown) => call(`${sb.url('pricing')}/__faults`, jsonPost(f));

  it('manages faults over HTTP and validates them', async () => {
    const spec = { error: { probability: 1, status: 503, retryAfterS: 7 } };
    const set = await pricingFaults(spec);
    expect(set.status).toBe(200);
    expect(set.body).toEqual(spec);
    expect((await call(`${sb.url('pricing')}/__faults`)).body).toEqual(spec);
    expect(sb.upstream('pricing').faults()).toEqual(spec);
    const r = await prices('BEA-ESS-ESS-001');
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ message: 'injected fault' });
    expect(r.headers.get('retry-after')).toBe('7');
    expect((await call(`${sb.url('pricing')}/__faults`, { method: 'DELETE' })).status).toBe(204);
    expect(sb.upstream('pricing').faults()).toBeNull();
    expect((await prices('BEA-ESS-ESS-001')).status).toBe(200);

    for (const bad of ['{', '[]', { error: { probability: 2, status: 500 } }, { error: { status: 500 } }, { drift: 'sideways' }, { routes: ['GET /nope'] }, { redirect: 'ftp://x' }, { typo: true }, { trickle: { bytesPerChunk: 0, intervalMs: 1 } }]) {
      const b = await pricingFaults(bad);
      expect(b.status, JSON.stringify(bad)).toBe(400);
      expect(typeof b.body.message).toBe('string');
    }
    expect(() => sb.upstream('pricing').setFaults({ reset: { probability: -1 } })).toThrow();
    expect(sb.upstream('pricing').faults()).toBeNull();
  });

  it('adds latency and spikes', async () => {
    sb.upstream('tax').setFaults({ latencyMs: 30, spike: { probability: 1, ms: 30 } });
    const t0 = performance.now();
    expect((await taxq({ country: 'US', postcode: 'x', amount: 1 })).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
  });

  it('resets connections', async () => {
    sb.upstream('inventory').resetStats();
    sb.upstream('inventory').setFaults({ reset: { probability: 1 } });
    await expect(stock({ skus: ['BEA-ESS-ESS-001'] })).rejects.toThrow();
    await sleep(10);
    const e = lastEntry('inventory');
    expect(e.status).toBe(0);
    expect(e.end).toBeGreaterThan(0);
  });

  it('hangs until the client gives up', async () => {
    sb.upstream('reviews').setFaults({ hang: { probability: 1 } });
    const t0 = performance.now();
    await expect(fetch(`${sb.url('reviews')}/reviews?productIds=1`, { headers: bearer(cred('reviewsToken')), signal: AbortSignal.timeout(150) })).rejects.toThrow();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    await sleep(20);
    const e = lastEntry('reviews');
    expect(e.status).toBe(0);
    expect(e.end - e.start).toBeGreaterThanOrEqual(140);
  });

  it('serves malformed JSON', async () => {
    sb.upstream('pricing').setFaults({ malformed: { probability: 1 } });
    const r = await prices('BEA-ESS-ESS-001');
    expect(r.status).toBe(200);
    expect(r.body).toBeUndefined();
    expect(() => JSON.parse(r.text)).toThrow();
    expect(r.text.startsWith('{"prices":[')).toBe(true);
  });

  it('trickles the body', async () => {
    sb.upstream('pricing').setFaults({ trickle: { bytesPerChunk: 16, intervalMs: 10 } });
    const t0 = performance.now();
    const r = await prices('BEA-ESS-ESS-001');
    const took = performance.now() - t0;
    expect(r.body.prices[0].sale).toBe(8.94);
    const chunks = Math.ceil(Buffer.byteLength(r.text) / 16);
    expect(took).toBeGreaterThanOrEqual((chunks - 1) * 10 - 5);
  });

  it('is hard down, then up again', async () => {
    sb.upstream('accounts').resetStats();
    sb.upstream('accounts').setFaults({ down: true });
    await expect(user('1')).rejects.toThrow();
    await sleep(10);
    expect(lastEntry('accounts')).toMatchObject({ status: 0, route: 'GET /users/:id' });
    // admin routes stay reachable
    expect((await call(`${sb.url('accounts')}/__faults`, { method: 'DELETE' })).status).toBe(204);
    expect((await user('1')).status).toBe(200);
  });

  it('redirects (and fetch drops Authorization across origins)', async () => {
    sb.upstream('pricing').setFaults({ redirect: sb.url('catalog') });
    const r = await call(`${sb.url('pricing')}/v1/prices?skus=BEA-ESS-ESS-001`, { headers: bearer(cred('pricingToken')), redirect: 'manual' });
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe(`${sb.url('catalog')}/v1/prices?skus=BEA-ESS-ESS-001`);
    sb.upstream('catalog').resetStats();
    const followed = await prices('BEA-ESS-ESS-001');
    expect(followed.status).toBe(404);
    const e = lastEntry('catalog');
    expect(e.path).toBe('/v1/prices?skus=BEA-ESS-ESS-001');
    expect(e.headers.authorization).toBeUndefined();
  });

  it('applies faults only to the listed routes', async () => {
    sb.upstream('catalog').setFaults({ error: { probability: 1, status: 500 }, routes: ['GET /products/:id'] });
    expect((await catalog('/products/1')).status).toBe(500);
    expect((await catalog('/products?limit=1')).status).toBe(200);
    expect((await catalog('/products/categories')).status).toBe(200);
  });

  it('draws probabilistic faults deterministically from the seed', async () => {
    const run = async (): Promise<number[]> => {
      const s = await startSandbox({ portBase: 0, only: ['pricing'], latencyMs: { pricing: 0 }, seed: 77, faults: { pricing: { error: { probability: 0.5, status: 502 } } } });
      try {
        const out: number[] = [];
        for (let i = 0; i < 24; i++) out.push((await fetch(`${s.url('pricing')}/v1/prices?skus=X`, { headers: bearer(cred('pricingToken')) })).status);
        return out;
      } finally {
        await s.close();
      }
    };
    const a = await run();
    expect(await run()).toEqual(a);
    expect(a).toContain(502);
    expect(a).toContain(200);
  });

  describe('drift', () => {
    const P = { sku: 'BEA-ESS-ESS-001', currency: 'USD', discountPercentage: 10.48 };
    it.each([
      ['rename', { ...P, list: 9.99, salePrice: 8.94 }],
      ['type', { ...P, list: '9.99', sale: '8.94' }],
      ['missing', { ...P, list: 9.99 }],
      ['extra', { ...P, list: 9.99, sale: 8.94, tier: 'standard' }],
    ] as const)('pricing %s', async (kind, expected) => {
      sb.upstream('pricing').setFaults({ drift: kind });
      expect((await prices('BEA-ESS-ESS-001')).body).toEqual({ prices: [expected] });
    });

    it('other upstreams', async () => {
      sb.upstream('inventory').setFaults({ drift: 'rename' });
      expect((await stock({ skus: ['BEA-ESS-ESS-001'] })).body).toEqual({ items: [{ sku: 'BEA-ESS-ESS-001', quantity: 99, status: 'IN_STOCK' }] });
      sb.upstream('recommendations').setFaults({ drift: 'type' });
      expect((await recs('productId=1')).body).toEqual({ productIds: ['3', '4', '5', '2'] });
      sb.upstream('accounts').setFaults({ drift: 'missing' });
      const u = (await user('1')).body;
      expect(u.email).toBeUndefined();
      expect(u.firstName).toBe('Emily');
      sb.upstream('catalog').setFaults({ drift: 'extra' });
      expect((await catalog('/products/1?select=title')).body).toEqual({ id: 1, title: productById.get(1)!.title, vendor: 'dummyjson' });
      expect((await catalog('/products?limit=2&select=price')).body.products).toEqual([
        { id: 1, price: 9.99, vendor: 'dummyjson' },
        { id: 2, price: products[1]!.price, vendor: 'dummyjson' },
      ]);
      sb.upstream('tax').setFaults({ drift: 'type' });
      expect((await taxq({ country: 'US', postcode: 'x', amount: 100 })).body).toEqual({ rate: '0.0725', tax: '7.25' });
      sb.upstream('reviews').setFaults({ drift: 'rename' });
      const rv = (await reviews('1')).body.reviews[0];
      expect(rv.stars).toBe(3);
      expect(rv.rating).toBeUndefined();
      const tok = await token();
      sb.upstream('shipping').setFaults({ drift: 'missing' });
      expect((await quote({ country: 'US', postcode: '1', items: [{ sku: 'BEA-ESS-ESS-001', quantity: 2 }] }, tok)).body).toEqual({
        quotes: [{ sku: 'BEA-ESS-ESS-001', carrier: 'STANDARD', minDays: 3, cost: 6.99 }],
        total: 13.98,
      });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Robustness, lifecycle, OpenAPI
// ---------------------------------------------------------------------------------------------

describe('robustness', () => {
  it('refuses bodies over 1 MB with 413', async () => {
    const big = Buffer.alloc(1024 * 1024 + 10, 0x20);
    const declared = await raw(sb.url('inventory'), '/stock/lookup', { method: 'POST', headers: { 'x-api-key': cred('inventoryApiKey'), 'content-type': 'application/json', 'content-length': big.length }, body: big });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.text).message).toMatch(/larger/);
    const chunked = await raw(sb.url('inventory'), '/stock/lookup', { method: 'POST', headers: { 'x-api-key': cred('inventoryApiKey'), 'transfer-encoding': 'chunked' }, body: big });
    expect(chunked.status).toBe(413);
    // and still serves afterwards
    expect((await stock({ skus: ['BEA-ESS-ESS-001'] })).status).toBe(200);
  });

  it('survives hostile input', async () => {
    const junk = [
      await raw(sb.url('catalog'), '/products/%'),
      await raw(sb.url('catalog'), '/products?limit=%ZZ'),
      await raw(sb.url('catalog'), '//products'),
      await raw(sb.url('catalog'), '/products/1?select=__proto__,constructor'),
      await raw(sb.url('catalog'), '/products?sortBy=__proto__'),
      await raw(sb.url('pricing'), '/v1/prices?skus=%00,%FF', { headers: bearer(cred('pricingToken')) }),
      await raw(sb.url('tax'), '/v1/tax/quote', { method: 'POST', headers: { authorization: 'Basic !!!' }, body: '{}' }),
      await raw(sb.url('tax'), '/v1/tax/quote', { method: 'POST', headers: basic(cred('taxUsername'), cred('taxPassword')), body: '{"__proto__":{"country":"US"}}' }),
      await raw(sb.url('shipping'), '/oauth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":' }),
    ];
    for (const r of junk) {
      expect(r.status).toBeGreaterThanOrEqual(200);
      expect(r.status).toBeLessThan(500);
      expect(() => JSON.parse(r.text)).not.toThrow();
    }
    expect(JSON.parse(junk[3]!.text)).toEqual({ id: 1 });
    expect((await catalog('/products/1')).status).toBe(200);
  });

  it('stops and starts on the same port', async () => {
    const up = sb.upstream('pricing');
    const port = up.port;
    await up.stop();
    await expect(prices('BEA-ESS-ESS-001')).rejects.toThrow();
    await up.start();
    expect(up.port).toBe(port);
    expect((await prices('BEA-ESS-ESS-001')).status).toBe(200);
  });
});

describe('openapi.json', () => {
  it('describes every route of every upstream', async () => {
    const expected: Record<UpstreamName, string[]> = {
      catalog: ['GET /products', 'GET /products/search', 'GET /products/categories', 'GET /products/category-list', 'GET /products/category/{slug}', 'GET /products/{id}'],
      pricing: ['GET /v1/prices'],
      inventory: ['POST /stock/lookup', 'POST /reservations', 'GET /reservations/{id}', 'DELETE /reservations/{id}', 'POST /reservations/{id}/commit'],
      reviews: ['GET /reviews'],
      recommendations: ['GET /recommendations'],
      shipping: ['POST /oauth/token', 'POST /quotes'],
      tax: ['POST /v1/tax/quote'],
      accounts: ['GET /users/{id}'],
      payments: ['POST /v1/charges', 'GET /v1/charges/{id}', 'POST /v1/refunds'],
      orders: ['POST /orders', 'GET /orders', 'GET /orders/{id}'],
    };
    for (const name of UPSTREAM_NAMES) {
      const r = await call(`${sb.urls[name]}/openapi.json`);
      expect(r.status).toBe(200);
      const doc = r.body;
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.servers[0].url).toBe(sb.urls[name]);
      const ops = Object.entries(doc.paths as Record<string, object>).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`));
      // The document describes exactly the routes the server serves...
      expect(ops.sort()).toEqual(sb.upstream(name).routes.map((k) => k.replace(/:(\w+)/g, '{$1}')).sort());
      // ...and, for the shop's upstreams, the routes written down here.
      if (expected[name]) expect(ops.sort()).toEqual([...expected[name]].sort());
      if (name !== 'catalog') expect(Object.keys(doc.components.securitySchemes)).toHaveLength(1);
    }
    const cat = (await catalog('/openapi.json')).body;
    expect(cat.components.schemas.Product.required).toContain('sku');
    expect(cat.components.schemas.Product.required).not.toContain('brand');
    expect(cat.components.schemas.Product.properties.price.type).toBe('number');
    const acc = (await call(`${sb.url('accounts')}/openapi.json`)).body;
    expect(acc.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    expect(acc.components.schemas.User.required).toEqual(expect.arrayContaining(['id', 'firstName', 'email', 'password', 'ssn']));
  });
});
