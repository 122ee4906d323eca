/**
 * The three client operations (sandbox/README.md, "The client operations and their rules"), end to end: real sandbox servers, a real gateway, real
 * HTTP. Answers are checked against the data set; upstream calls are counted from `__stats`.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  anonymousRecommendations,
  byId,
  categoryName,
  products,
  saleCents,
  shipping,
  status,
  taxCents,
  usd,
} from './support/expected.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';
import inventory from '../upstreams/inventory.js';
import pricing from '../upstreams/pricing.js';

let stack: Stack;

beforeAll(async () => {
  // Cache off: every count below is exact, whatever ran before.
  stack = await startStack({ env: { CACHE: 'off' } });
});
afterAll(async () => {
  await stack?.close();
});
beforeEach(() => stack.resetStats());

const countOf = (name: keyof Stack['sandbox']['upstreams']) => stack.sandbox.upstream(name).stats().total;

function expectedProductPage(id: number) {
  const p = byId.get(String(id))!;
  const ship = shipping(p);
  return {
    id: String(p.id),
    sku: p.sku,
    title: p.title,
    description: p.description,
    brand: p.brand ?? null,
    category: p.category,
    images: p.images,
    price: {
      sale: usd(saleCents(p)),
      list: usd(Math.round(p.price * 100)),
      discountPercentage: p.discountPercentage,
    },
    availability: { status: status(p), quantity: p.stock },
    rating: p.rating,
    reviews: p.reviews.slice(0, 3).map((r) => ({ rating: r.rating, comment: r.comment, date: r.date, reviewerName: r.reviewerName })),
    recommendations: anonymousRecommendations(id, 4).map((rid) => {
      const q = byId.get(String(rid))!;
      return { id: String(q.id), title: q.title, thumbnail: q.thumbnail, price: { sale: usd(saleCents(q)) } };
    }),
    shippingEstimate: { carrier: ship.carrier, minDays: ship.minDays, maxDays: ship.maxDays, cost: usd(ship.costCents) },
  };
}

describe('ProductPage', () => {
  it.each([1, 5, 42, 100, 194])('answers product %i exactly as the data set gives', async (id) => {
    const r = await stack.gql(OPERATIONS.ProductPage, { id: String(id), country: 'US', postcode: '10001' });
    expect(r.status).toBe(200);
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.product).toEqual(expectedProductPage(id));
  });

  it('returns null without an error for an unknown product', async () => {
    const r = await stack.gql(OPERATIONS.ProductPage, { id: '99999', country: 'US', postcode: '10001' });
    expect(r.body).toEqual({ data: { product: null } });
  });

  it('costs one call per upstream it needs, plus the batched lookups of the recommended products', async () => {
    const r = await stack.gql(OPERATIONS.ProductPage, { id: '7', country: 'GB', postcode: 'SW1A 1AA' });
    expect(r.body.errors).toBeUndefined();
    const recs = r.body.data.product.recommendations.length;
    expect(recs).toBe(4);
    // catalog: the product, then each recommended product (no batch endpoint): 1 + 4
    expect(stack.sandbox.upstream('catalog').stats().counts).toEqual({ 'GET /products/:id': 1 + recs });
    // pricing: the product's price, then one batched call for the recommended products' prices
    expect(countOf('pricing')).toBe(2);
    expect(countOf('inventory')).toBe(1);
    expect(countOf('reviews')).toBe(1);
    expect(countOf('recommendations')).toBe(1);
    expect(stack.sandbox.upstream('shipping').stats().counts['POST /quotes']).toBe(1);
    expect(countOf('tax')).toBe(0);
    // The recommended products' prices came in one call carrying all four SKUs.
    const pricingPaths = stack.sandbox.upstream('pricing').stats().requests.map((q) => decodeURIComponent(q.path));
    const skus = r.body.data.product.recommendations.map((p: { id: string }) => byId.get(p.id)!.sku);
    expect(pricingPaths.some((p) => skus.every((s: string) => p.includes(s)))).toBe(true);
  });

  it('calls pricing, inventory, reviews, recommendations and shipping in parallel', async () => {
    const r = await stack.gql(OPERATIONS.ProductPage, { id: '3', country: 'US', postcode: '10001' });
    expect(r.body.errors).toBeUndefined();
    const first = (name: 'pricing' | 'inventory' | 'reviews' | 'recommendations' | 'shipping') => {
      const reqs = stack.sandbox.upstream(name).stats().requests.filter((q) => q.route !== 'POST /oauth/token');
      return reqs[0]!;
    };
    const calls = (['pricing', 'inventory', 'reviews', 'recommendations', 'shipping'] as const).map(first);
    // Every pair overlaps in time: each started before any of the others ended.
    const latestStart = Math.max(...calls.map((c) => c.start));
    const earliestEnd = Math.min(...calls.map((c) => c.end));
    expect(latestStart).toBeLessThan(earliestEnd);
  });
});

describe('CategoryPage', () => {
  const expectedNodes = (slug: string, skip: number, first: number) =>
    products
      .filter((p) => p.category === slug)
      .slice(skip, skip + first)
      .map((p) => ({
        id: String(p.id),
        title: p.title,
        thumbnail: p.thumbnail,
        rating: p.rating,
        price: { sale: usd(saleCents(p)) },
        availability: { status: status(p) },
      }));

  it.each(['kitchen-accessories', 'groceries'])('pages through %s: first 20, then the rest through `after`', async (slug) => {
    const total = products.filter((p) => p.category === slug).length;
    const page1 = await stack.gql(OPERATIONS.CategoryPage, { slug, first: 20 });
    expect(page1.body.errors).toBeUndefined();
    const c1 = page1.body.data.category;
    expect(c1.slug).toBe(slug);
    expect(c1.name).toBe(categoryName(slug));
    expect(c1.products.totalCount).toBe(total);
    expect(c1.products.pageInfo.hasNextPage).toBe(true);
    expect(c1.products.nodes).toEqual(expectedNodes(slug, 0, 20));

    const page2 = await stack.gql(OPERATIONS.CategoryPage, { slug, first: 20, after: c1.products.pageInfo.endCursor });
    expect(page2.body.errors).toBeUndefined();
    const c2 = page2.body.data.category.products;
    expect(c2.nodes).toEqual(expectedNodes(slug, 20, 20));
    expect(c2.pageInfo.hasNextPage).toBe(false);
  });

  it('answers a small category and an unknown one', async () => {
    const r = await stack.gql(OPERATIONS.CategoryPage, { slug: 'beauty', first: 20 });
    expect(r.body.data.category.products.nodes).toEqual(expectedNodes('beauty', 0, 20));
    expect(r.body.data.category.products.pageInfo.hasNextPage).toBe(false);
    const none = await stack.gql(OPERATIONS.CategoryPage, { slug: 'no-such-category', first: 20 });
    expect(none.body).toEqual({ data: { category: null } });
  });

  it('costs exactly one pricing call and one inventory call for 20 products', async () => {
    const r = await stack.gql(OPERATIONS.CategoryPage, { slug: 'groceries', first: 20 });
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.category.products.nodes).toHaveLength(20);
    const pricing = stack.sandbox.upstream('pricing').stats();
    const inventory = stack.sandbox.upstream('inventory').stats();
    expect(pricing.total).toBe(1);
    expect(inventory.total).toBe(1);
    // ...and that one call carried all 20 SKUs.
    const skus = decodeURIComponent(pricing.requests[0]!.path).split('skus=')[1]!.split(',');
    expect(new Set(skus).size).toBe(20);
    expect(countOf('catalog')).toBe(2); // categories, then the page
  });

  it('asks no endpoint twice for the same key in one request', async () => {
    const lines = [
      { productId: '1', quantity: 1 },
      { productId: '1', quantity: 2 },
      { productId: '2', quantity: 1 },
    ];
    const r = await stack.gql(OPERATIONS.CheckoutQuote, { lines, country: 'US', postcode: '10001' });
    expect(r.body.errors).toBeUndefined();
    expect(stack.sandbox.upstream('catalog').stats().counts).toEqual({ 'GET /products/:id': 2 });
    expect(countOf('pricing')).toBe(1);
    expect(countOf('inventory')).toBe(1);
    expect(countOf('tax')).toBe(1);
    expect(stack.sandbox.upstream('shipping').stats().counts['POST /quotes']).toBe(1);
  });

  it('refuses a cursor it did not issue and an out-of-range page size', async () => {
    const bad = await stack.gql(OPERATIONS.CategoryPage, { slug: 'beauty', first: 20, after: 'not-a-cursor' });
    expect(bad.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const big = await stack.gql(OPERATIONS.CategoryPage, { slug: 'beauty', first: 1000 });
    expect(big.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
  });
});

describe('CheckoutQuote', () => {
  const carts: { id: number; userId: number; products: { id: number; quantity: number }[] }[] = JSON.parse(
    readFileSync(new URL('../data/dummyjson/carts.json', import.meta.url), 'utf8'),
  );

  function expectedQuote(lines: { productId: string; quantity: number }[], country: string) {
    let subtotal = 0;
    let ship = 0;
    const out = lines.map((l) => {
      const p = byId.get(l.productId)!;
      const unit = saleCents(p);
      subtotal += unit * l.quantity;
      ship += shipping(p).costCents * l.quantity;
      return {
        product: { id: String(p.id), title: p.title },
        quantity: l.quantity,
        unitPrice: usd(unit),
        lineTotal: usd(unit * l.quantity),
        availability: { status: status(p), quantity: p.stock },
      };
    });
    const tax = taxCents(country, subtotal);
    return { lines: out, subtotal: usd(subtotal), shipping: usd(ship), tax: usd(tax), total: usd(subtotal + ship + tax) };
  }

  it.each([
    [0, 'US'],
    [1, 'GB'],
    [2, 'DE'],
    [3, 'FR'],
    [4, 'JP'],
  ])('quotes cart #%i for %s as the data rules give', async (index, country) => {
    const cart = carts[index]!;
    const lines = cart.products.map((p) => ({ productId: String(p.id), quantity: p.quantity }));
    const r = await stack.gql(OPERATIONS.CheckoutQuote, { lines, country, postcode: '10001' });
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.checkoutQuote).toEqual(expectedQuote(lines, country));
  });

  it('keeps lines as given, in order, even when two name the same product', async () => {
    const lines = [
      { productId: '1', quantity: 2 },
      { productId: '2', quantity: 1 },
      { productId: '1', quantity: 3 },
    ];
    const r = await stack.gql(OPERATIONS.CheckoutQuote, { lines, country: 'us', postcode: '10001' });
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.checkoutQuote).toEqual(expectedQuote(lines, 'US'));
  });

  describe("batches split at the upstream's maximum batch size", () => {
    const maxPricing = pricing.endpoints.pricesBySku.maxBatchSize;
    const maxInventory = inventory.endpoints.stockBySku.maxBatchSize;
    /** The SKUs of each call pricing received, as asked (`?skus=A,B`). */
    const pricingCalls = () => stack.sandbox.upstream('pricing').stats().requests.map((q) => decodeURIComponent(q.path).split('skus=')[1]!.split(','));

    it.each([maxPricing + 1, Math.floor(1.5 * maxPricing) + 2, 2 * maxPricing])(
      'a quote of %i distinct products costs ceil(n / max) pricing calls, each SKU in exactly one',
      async (n) => {
        // The quote's line limit (100) bounds n; the point is more SKUs in one tick than pricing takes in one call.
        expect(n).toBeGreaterThan(maxPricing);
        expect(n).toBeLessThanOrEqual(maxInventory);
        const lines = products.slice(0, n).map((p, i) => ({ productId: String(p.id), quantity: (i % 3) + 1 }));
        const r = await stack.gql(OPERATIONS.CheckoutQuote, { lines, country: 'US', postcode: '10001' });
        expect(r.body.errors).toBeUndefined();
        expect(r.body.data.checkoutQuote).toEqual(expectedQuote(lines, 'US'));

        const skus = lines.map((l) => byId.get(l.productId)!.sku);
        const calls = pricingCalls();
        expect(calls).toHaveLength(Math.ceil(n / maxPricing));
        expect(countOf('pricing')).toBe(calls.length);
        // Split in key order: the calls (whichever arrived first) are the consecutive slices of `max` keys.
        const expected = Array.from({ length: calls.length }, (_, i) => skus.slice(i * maxPricing, (i + 1) * maxPricing));
        expect([...calls].sort((a, b) => skus.indexOf(a[0]!) - skus.indexOf(b[0]!))).toEqual(expected);
        // Every SKU in exactly one call.
        expect(calls.flat().sort()).toEqual([...skus].sort());
        // Inventory takes them all at once (its maximum is not reached): one call, hedged copies aside.
        expect(stack.sandbox.upstream('inventory').stats().requests.filter((q) => q.headers['x-tributary-hedge'] !== '1')).toHaveLength(1);
      },
    );
  });

  it('refuses a line naming an unknown product, and a quantity below 1, naming the line', async () => {
    const unknown = await stack.gql(OPERATIONS.CheckoutQuote, {
      lines: [
        { productId: '1', quantity: 1 },
        { productId: '99999', quantity: 1 },
      ],
      country: 'US',
      postcode: '10001',
    });
    expect(unknown.body.data.checkoutQuote).toBeNull();
    expect(unknown.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(unknown.body.errors[0].message).toContain('Line 2');

    const zero = await stack.gql(OPERATIONS.CheckoutQuote, { lines: [{ productId: '1', quantity: 0 }], country: 'US', postcode: '10001' });
    expect(zero.body.data.checkoutQuote).toBeNull();
    expect(zero.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(zero.body.errors[0].message).toContain('Line 1');
  });
});
