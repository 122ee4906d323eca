/**
 * HTTP caching of GET queries: Cache-Control from the shortest TTL of what the query read (public),
 * private for a signed-in user or a user-scoped read, no-store for an answer with errors; a weak ETag
 * and 304 on If-None-Match (with gzip too); POST answers carry none of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS } from '../src/config.js';
import { signUserToken } from '../src/identity.js';
import { etagMatches } from '../src/http/http-caching.js';
import catalog from '../upstreams/catalog.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.close());

const get = (query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  fetch(`${stack.url}/graphql?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(JSON.stringify(variables))}`, {
    headers: { accept: 'application/json', 'x-graphql-csrf': '1', ...headers },
  });

describe('HTTP caching of GET queries', () => {
  it('a public query: public, max-age the shortest TTL it read; ETag and 304', async () => {
    const r = await get('query P($id: ID!) { product(id: $id) { id title } }', { id: '1' });
    expect(r.status).toBe(200);
    const ttlS = Math.floor((catalog.endpoints.productById.cache!.ttlMs as number) / 1000);
    expect(r.headers.get('cache-control')).toBe(`public, max-age=${ttlS}`);
    const etag = r.headers.get('etag')!;
    expect(etag).toMatch(/^W\/"[A-Za-z0-9_-]+"$/);
    expect(r.headers.get('vary')).toMatch(/Accept/);
    const body = await r.json();
    const again = await get('query P($id: ID!) { product(id: $id) { id title } }', { id: '1' }, { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expect(again.headers.get('etag')).toBe(etag);
    // Another product: another ETag, a full answer.
    const other = await get('query P($id: ID!) { product(id: $id) { id title } }', { id: '2' }, { 'if-none-match': etag });
    expect(other.status).toBe(200);
    expect((await other.json()).data.product.id).toBe('2');
    expect(body.data.product.id).toBe('1');
  });

  it('a page reading stock (5 s) and products (60 s) gets the shortest: 5 s', async () => {
    const r = await get(OPERATIONS.CategoryPage, { slug: 'groceries', first: 3 });
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('public, max-age=5');
  });

  it('a signed-in user: private; a user-scoped read: private; errors: no-store and never 304', async () => {
    const token = await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '1');
    const viewer = await get('{ viewer { id } }', {}, { authorization: `Bearer ${token}` });
    expect(viewer.status).toBe(200);
    expect(viewer.headers.get('cache-control')).toMatch(/^private, max-age=\d+$/);
    expect(viewer.headers.get('vary')).toMatch(/Authorization/);
    stack.sandbox.upstream('catalog').setFaults({ error: { probability: 1, status: 503 } });
    try {
      const failed = await get('query P($id: ID!) { product(id: $id) { id title } }', { id: '77' });
      expect(failed.status).toBe(200);
      expect((await failed.json()).errors).toBeDefined();
      expect(failed.headers.get('cache-control')).toBe('no-store');
      const etag = failed.headers.get('etag')!;
      const again = await get('query P($id: ID!) { product(id: $id) { id title } }', { id: '77' }, { 'if-none-match': etag });
      expect(again.status).toBe(200);
    } finally {
      stack.sandbox.upstream('catalog').setFaults(null);
    }
  });

  it('POST answers carry no Cache-Control or ETag', async () => {
    const r = await stack.gql('query P($id: ID!) { product(id: $id) { id } }', { id: '1' });
    expect(r.status).toBe(200);
    const res = await fetch(`${stack.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ product(id: "1") { id } }' }) });
    expect(res.headers.get('etag')).toBeNull();
    expect(res.headers.get('cache-control')).toBeNull();
  });

  it('compares ETags weakly', () => {
    expect(etagMatches('W/"abc"', 'W/"abc"')).toBe(true);
    expect(etagMatches('"abc"', 'W/"abc"')).toBe(true);
    expect(etagMatches('W/"x", W/"abc"', 'W/"abc"')).toBe(true);
    expect(etagMatches('*', 'W/"abc"')).toBe(true);
    expect(etagMatches('W/"x"', 'W/"abc"')).toBe(false);
    expect(etagMatches(null, 'W/"abc"')).toBe(false);
  });
});
