/**
 * Partial failure: an upstream that is down, answers garbage, hangs or refuses our credential leaves
 * the rest of the answer intact, its fields null, and one error naming it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { products } from './support/expected.js';
import { eventually } from './support/wait.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

const vars = { id: '1', country: 'US', postcode: '10001' };

function expectIntactExceptAvailability(body: { data?: any }) {
  const p = body.data.product;
  expect(p.id).toBe('1');
  expect(p.title).toBe('Essence Mascara Lash Princess');
  expect(p.price.sale).toEqual({ amount: '8.94', currencyCode: 'USD' });
  expect(p.reviews).toHaveLength(3);
  expect(p.recommendations).toHaveLength(4);
  expect(p.shippingEstimate.cost).toEqual({ amount: '6.99', currencyCode: 'USD' });
  expect(p.availability).toBeNull();
}

function expectSafeErrors(errors: unknown) {
  const text = JSON.stringify(errors);
  expect(text).not.toMatch(/127\.0\.0\.1|localhost|https?:\/\//);
  expect(text).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack frames
  expect(text).not.toContain('injected fault');
}

describe('partial failure', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CACHE: 'off' } });
  });
  afterAll(async () => {
    await stack?.close();
  });
  afterEach(async () => {
    stack.sandbox.upstream('inventory').setFaults(null);
    await stack.sandbox.upstream('inventory').start().catch(() => {});
  });

  it('with inventory stopped, everything else answers and the error names inventory', async () => {
    await stack.sandbox.upstream('inventory').stop();
    const r = await stack.gql(OPERATIONS.ProductPage, vars);
    expect(r.status).toBe(200);
    expectIntactExceptAvailability(r.body);
    expect(r.body.errors).toHaveLength(1);
    expect(r.body.errors![0].path).toEqual(['product', 'availability']);
    expect(r.body.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', upstream: 'inventory' });
    expect(r.body.errors![0].extensions.requestId).toBe(r.headers.get('x-request-id'));
    expectSafeErrors(r.body.errors);
  });

  it('with inventory answering malformed JSON, the same', async () => {
    stack.sandbox.upstream('inventory').setFaults({ malformed: { probability: 1 } });
    const r = await stack.gql(OPERATIONS.ProductPage, vars);
    expectIntactExceptAvailability(r.body);
    expect(r.body.errors).toHaveLength(1);
    expect(r.body.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_ERROR', upstream: 'inventory' });
    expectSafeErrors(r.body.errors);
  });

  it('with inventory answering 500s, the same, and the raw body never shows', async () => {
    stack.sandbox.upstream('inventory').setFaults({ error: { probability: 1, status: 500 } });
    const r = await stack.gql(OPERATIONS.ProductPage, vars);
    expectIntactExceptAvailability(r.body);
    expect(r.body.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_ERROR', upstream: 'inventory' });
    expectSafeErrors(r.body.errors);
  });

  it('with inventory hanging, the call times out by the deadline with UPSTREAM_TIMEOUT', async () => {
    stack.sandbox.upstream('inventory').setFaults({ hang: { probability: 1 } });
    const r = await stack.gql(OPERATIONS.ProductPage, vars, { 'x-request-timeout-ms': '400' });
    expectIntactExceptAvailability(r.body);
    expect(r.body.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_TIMEOUT', upstream: 'inventory' });
  });

  it('a missing product is null with no error; a failing catalog is null with an error', async () => {
    const missing = await stack.gql(OPERATIONS.ProductPage, { ...vars, id: '4242' });
    expect(missing.body).toEqual({ data: { product: null } });
    await stack.sandbox.upstream('catalog').stop();
    try {
      const down = await stack.gql(OPERATIONS.ProductPage, vars);
      expect(down.body.data.product).toBeNull();
      expect(down.body.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', upstream: 'catalog' });
    } finally {
      await stack.sandbox.upstream('catalog').start();
    }
  });
});

describe('a wrong credential', () => {
  const CANARY = 'canary-pricing-token-7f3a9c';
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CACHE: 'off', PRICING_TOKEN: CANARY } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('is UPSTREAM_UNAUTHORIZED, and its value appears nowhere in the response or the logs', async () => {
    const r = await stack.gql(OPERATIONS.ProductPage, vars);
    expect(r.body.data.product.title).toBe('Essence Mascara Lash Princess');
    expect(r.body.data.product.price).toBeNull();
    const codes = r.body.errors!.map((e: any) => [e.extensions.code, e.extensions.upstream]);
    expect(codes).toContainEqual(['UPSTREAM_UNAUTHORIZED', 'pricing']);
    // One refresh-and-retry on 401, then give up: each pricing call is sent exactly twice, and there
    // are two (the product's price, then its four recommendations' prices in a second batch).
    const sku = (id: number) => products.find((p) => p.id === id)!.sku;
    const own = `/v1/prices?skus=${sku(1)}`;
    const recommended = `/v1/prices?skus=${[3, 4, 5, 2].map(sku).join(',')}`;
    const pricingCalls = stack.sandbox.upstream('pricing').stats().requests;
    expect(pricingCalls.map((q) => [q.status, decodeURIComponent(q.path)])).toEqual([
      [401, own],
      [401, own],
      [401, recommended],
      [401, recommended],
    ]);
    expect(r.text).not.toContain(CANARY);
    // The log line of the request exists and carries no credential.
    await eventually(() => stack.logs.some((l) => l.msg === 'graphql request' && l.operation === 'ProductPage'), 'the request log line is written');
    expect(stack.logText()).not.toContain(CANARY);
    expect(stack.logText()).not.toContain('sandbox-inventory-key');
  });
});
