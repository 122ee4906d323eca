/** Bad input: a clear error, no crash, and never an upstream call outside the allowed routes. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { encodeSegment } from '../src/connector/index.js';
import { OPERATIONS, post, startStack, type Stack } from './support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { CACHE: 'off' } });
});
afterAll(async () => {
  await stack?.close();
});
beforeEach(() => stack.resetStats());

const totalUpstreamCalls = () => Object.values(stack.sandbox.upstreams).reduce((n, u) => n + u.stats().total, 0);

describe('invalid GraphQL', () => {
  it.each([
    ['a syntax error', 'query { product(id: "1") { title '],
    ['an unknown field', '{ product(id: "1") { title nope } }'],
    ['a missing variable', 'query($id: ID!) { product(id: $id) { title } }'],
    ['a wrong argument type', '{ category(slug: 5) { name } }'],
  ])('%s gets a 400 with a clear message and costs no upstream call', async (_, query) => {
    const r = await post(stack.url, { query });
    expect(r.status).toBe(400);
    expect(r.body.errors![0].message).toBeTruthy();
    // The client's mistake, named as such (an argument literal of the wrong type once read as an upstream's broken leaf).
    expect(r.body.errors![0].extensions.code).toMatch(/^GRAPHQL_(PARSE|VALIDATION)_FAILED$/);
    expect(r.body.errors![0].message).not.toBe('Unexpected error.');
    expect(r.body.data).toBeUndefined();
    expect(totalUpstreamCalls()).toBe(0);
  });

  it('a body that is not JSON gets a 400', async () => {
    const r = await post(stack.url, '{"query": ');
    expect(r.status).toBe(400);
    expect(totalUpstreamCalls()).toBe(0);
  });

  it('a body over the size limit gets a 413', async () => {
    const r = await post(stack.url, { query: `{ apiVersion } # ${'x'.repeat(2 * 1024 * 1024)}` });
    expect(r.status).toBe(413);
  });

  it('an invalid bearer token is refused with 401, not served as anonymous', async () => {
    const r = await stack.gql(OPERATIONS.Viewer, {}, { authorization: 'Bearer not.a.jwt' });
    expect(r.status).toBe(401);
    expect(r.body.errors![0].extensions.code).toBe('UNAUTHENTICATED');
    expect(totalUpstreamCalls()).toBe(0);
  });
});

describe('hostile ids', () => {
  it.each(['../users/1', '1?x=2', '..%2Fusers', '1?select=password', 'a%0d%0aX-Injected: 1', '..', '1/../../users/1', '1#frag'])(
    '%s reaches the catalog as one encoded path segment and answers null',
    async (id) => {
      const r = await stack.gql(OPERATIONS.ProductPage, { id, country: 'US', postcode: '10001' });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ data: { product: null } });
      const calls = stack.sandbox.upstream('catalog').stats().requests;
      expect(calls.map((c) => c.path)).toEqual([`/products/${encodeSegment(id)}`]);
      expect(calls[0]!.route).toBe('GET /products/:id');
      expect(totalUpstreamCalls()).toBe(1);
      expect(stack.sandbox.upstream('accounts').stats().total).toBe(0);
    },
  );

  it('a hostile category slug never reaches a catalog route', async () => {
    const r = await stack.gql(OPERATIONS.CategoryPage, { slug: '../products/1', first: 5 });
    expect(r.body).toEqual({ data: { category: null } });
    expect(stack.sandbox.upstream('catalog').stats().counts).toEqual({ 'GET /products/categories': 1 });
  });

  it('a hostile country is refused before any shipping call', async () => {
    const r = await stack.gql(OPERATIONS.ProductPage, { id: '1', country: 'US\r\nX: 1', postcode: '10001' });
    expect(r.body.data.product.shippingEstimate).toBeNull();
    expect(r.body.errors![0].extensions.code).toBe('BAD_USER_INPUT');
    expect(stack.sandbox.upstream('shipping').stats().counts['POST /quotes'] ?? 0).toBe(0);
  });
});
