/**
 * The hostile-input table, GraphQL hardening and persisted documents, against a real sandbox: each
 * hostile request gets a clear error or a safe result, no upstream is called outside its allowed
 * routes, and the gateway keeps answering.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'graphql';
import { composeGatewaySchema } from '../src/main.js';
import { Transport, UnsafeRequestError } from '../src/connector/transport.js';
import { Cancel } from '../src/connector/cancel.js';
import { buildManifest, hashApiKey, loadSecurityConfig, manifestText, operationCost, SECURITY_DEFAULTS } from '../src/security/index.js';
import { costLimit } from '../src/security/hardening.js';
import { OPERATIONS, post, startStack, type Stack } from './support/stack.js';
import { readFileSync } from 'node:fs';

const KEYS = { web: 'web-key-hostile-0001', mobile: 'mobile-key-hostile-0001' };
const CLIENTS = JSON.stringify([
  { name: 'web', keySha256: hashApiKey(KEYS.web), permissions: ['pii'], operations: 'any' },
  { name: 'mobile', keySha256: hashApiKey(KEYS.mobile), permissions: ['pii'], operations: 'persisted' },
]);
const WEB = { 'x-api-key': KEYS.web };

/** Every route key any upstream was called on, as `upstream GET /route`. */
function calledRoutes(stack: Stack): string[] {
  const out: string[] = [];
  for (const [name, u] of Object.entries(stack.sandbox.upstreams)) for (const k of Object.keys(u.stats().counts)) out.push(`${name} ${k}`);
  return out.sort();
}
function totalCalls(stack: Stack): number {
  return Object.values(stack.sandbox.upstreams).reduce((n, u) => n + u.stats().total, 0);
}

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { CLIENTS } });
});
afterAll(async () => {
  await stack?.close();
});

describe('hostile-input table', () => {
  const nested = (levels: number): string => {
    let inner = 'id';
    for (let i = 0; i < levels; i++) inner = `recommendations(first: 1) { ${inner} }`;
    return `{ product(id: "1") { ${inner} } }`;
  };

  it('depth 20: refused before execution, zero upstream calls', async () => {
    stack.resetStats();
    const r = await stack.gql(nested(19), {}, WEB);
    expect(r.status).toBe(400);
    expect(r.body.data).toBeUndefined();
    expect(r.body.errors[0].message).toMatch(/depth limit of 10/i);
    expect(r.body.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(totalCalls(stack)).toBe(0);
  });

  it('100 aliases: refused, zero upstream calls', async () => {
    stack.resetStats();
    const q = `{ ${Array.from({ length: 100 }, (_, i) => `p${i}: product(id: "${i + 1}") { id }`).join(' ')} }`;
    const r = await stack.gql(q, {}, WEB);
    expect(r.status).toBe(400);
    expect(r.body.errors[0].message).toMatch(/aliases limit of 15/i);
    expect(totalCalls(stack)).toBe(0);
  });

  it('10,000 tokens: refused while parsing, zero upstream calls', async () => {
    stack.resetStats();
    // 10,000 short tokens, under the document length limit: the token limit refuses it.
    const q = `{ ${Array.from({ length: 9_998 }, () => 'a').join(' ')} }`;
    const r = await stack.gql(q, {}, WEB);
    expect(r.status).toBe(400);
    expect(r.body.errors[0].message).toMatch(/token limit of 2000/i);
    expect(totalCalls(stack)).toBe(0);
  });

  it('11 directives: refused, zero upstream calls', async () => {
    stack.resetStats();
    const q = `{ product(id: "1") { id ${Array.from({ length: 11 }, () => '@include(if: true)').join(' ')} } }`;
    const r = await stack.gql(q, {}, WEB);
    expect(r.status).toBe(400);
    expect(r.body.errors[0].message).toMatch(/directives limit of 10/i);
    expect(totalCalls(stack)).toBe(0);
  });

  it('the GraphiQL introspection query passes every limit in development', async () => {
    const { getIntrospectionQuery } = await import('graphql');
    const r = await stack.gql(getIntrospectionQuery(), {}, WEB);
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.__schema.types.length).toBeGreaterThan(10);
  });

  it('50 operations in one batch: refused whole, zero upstream calls', async () => {
    stack.resetStats();
    const batch = Array.from({ length: 50 }, (_, i) => ({ query: `{ product(id: "${i + 1}") { id } }` }));
    const r = await post(stack.url, batch, WEB);
    expect(r.status).toBe(413);
    expect(JSON.stringify(r.body)).toMatch(/Batching is limited to 10 operations/);
    expect(totalCalls(stack)).toBe(0);
  });

  it('a 5 MB body: 413 before parsing, also when sent chunked without a length', async () => {
    stack.resetStats();
    const big = JSON.stringify({ query: `{ apiVersion }`, variables: { pad: 'x'.repeat(5 * 1024 * 1024) } });
    const r = await post(stack.url, big, WEB);
    expect(r.status).toBe(413);
    expect(r.body.errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    const bytes = new TextEncoder().encode(big);
    const chunked = await fetch(`${stack.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...WEB },
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < bytes.length; i += 64 * 1024) c.enqueue(bytes.subarray(i, i + 64 * 1024));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    await chunked.text();
    expect(totalCalls(stack)).toBe(0);
    // Still answering.
    expect((await stack.gql('{ apiVersion }', {}, WEB)).status).toBe(200);
  });

  const ids = ['../users/1', '..%2Fusers', '1?select=password', 'a%0d%0aX-Injected: 1', 'a\r\nX-Injected: 1', '..', '1#frag', '1/../../users/1'];
  for (const id of ids) {
    it(`id ${JSON.stringify(id)}: a safe result, only the catalog's product route called, as one segment`, async () => {
      stack.resetStats();
      const r = await stack.gql(OPERATIONS.ProductPage, { id, country: 'US', postcode: '10001' }, WEB);
      expect(r.status).toBe(200);
      // Either no such product, or a clear input error: never another resource.
      if (r.body.errors) expect(r.body.errors.map((e: { extensions: { code: string } }) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
      else expect(r.body.data.product).toBeNull();
      for (const route of calledRoutes(stack)) expect(route).toBe('catalog GET /products/:id');
      for (const req of stack.sandbox.upstream('catalog').stats().requests) {
        expect(req.path.startsWith('/products/')).toBe(true);
        const segment = req.path.slice('/products/'.length);
        expect(segment).not.toMatch(/[/?#\r\n]/);
        expect(decodeURIComponent(segment)).toBe(id);
        expect(Object.keys(req.headers)).not.toContain('x-injected');
      }
      expect(stack.sandbox.upstream('accounts').stats().total).toBe(0);
    });
  }

  it('a header value with CR/LF is refused by the transport before anything is sent', async () => {
    stack.resetStats();
    const t = new Transport({ baseUrl: stack.sandbox.url('catalog'), connections: 1, maxResponseBytes: 1024 });
    try {
      await expect(t.send('GET', '/products/1', { 'x-test': 'a\r\nX-Injected: 1' }, undefined, new Cancel())).rejects.toBeInstanceOf(UnsafeRequestError);
      await expect(t.send('GET', '/products/1\r\nX-Injected: 1', {}, undefined, new Cancel())).rejects.toBeInstanceOf(UnsafeRequestError);
      // The same transport, with a larger answer than its limit: aborted.
      await expect(t.send('GET', '/products/1', {}, undefined, new Cancel())).rejects.toThrow(/larger than 1024 bytes/);
    } finally {
      await t.close();
    }
    expect(stack.sandbox.upstream('catalog').stats().requests.map((r) => r.path)).toEqual(['/products/1']);
  });
});

describe('hardening defaults', () => {
  it('let every operation of operations/ pass (CategoryPage with 20 products, and at the page maximum)', () => {
    const schema = composeGatewaySchema();
    const costs = Object.fromEntries(
      Object.entries(OPERATIONS).map(([name, doc]) => [name, operationCost(schema, parse(doc), name, { first: name === 'CategoryPage' ? 100 : 20, lines: [] }, SECURITY_DEFAULTS.defaultListSize)]),
    );
    for (const [name, cost] of Object.entries(costs)) expect(cost, name).toBeLessThanOrEqual(SECURITY_DEFAULTS.maxCost);
    // List-size aware: 20 products cost about a fifth of 100.
    const c20 = operationCost(schema, parse(OPERATIONS.CategoryPage), 'CategoryPage', { first: 20 }, 10);
    const c100 = operationCost(schema, parse(OPERATIONS.CategoryPage), 'CategoryPage', { first: 100 }, 10);
    // 8 fields outside the list, `nodes` itself once per item, 10 fields per item.
    expect(c20).toBe(8 + 20 + 20 * 10);
    expect(c100).toBe(8 + 100 + 100 * 10);
  });

  it('remember each operation\'s cost per value of its size variables, never across values', () => {
    const schema = composeGatewaySchema();
    const doc = parse(OPERATIONS.CategoryPage);
    // Between the cost of 20 products (228) and of 100 (1108).
    const limit = costLimit({ maxCost: 500, defaultListSize: 10 });
    const verdicts = [{ first: 20 }, { first: 100 }, { first: 20 }, { first: 100 }, { first: 'many' }, {}, { first: 45 }, { first: 46 }].map((v) => limit(schema, doc, 'CategoryPage', v)?.extensions.cost ?? 'ok');
    // Not a number: the default list size (10): 8 + 10 + 100. 45 items: 8 + 45 + 450 = 503.
    expect(verdicts).toEqual(['ok', 1108, 'ok', 1108, 'ok', 'ok', 503, 514]);
    expect(limit(schema, doc, null, { first: 100 })?.extensions.code).toBe('COST_LIMIT_EXCEEDED');
  });

  it('CategoryPage with 20 products passes through the gateway', async () => {
    const r = await stack.gql(OPERATIONS.CategoryPage, { slug: 'beauty', first: 20 }, WEB);
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.category.products.nodes.length).toBeGreaterThan(0);
  });

  it('a costly operation is refused before execution, zero upstream calls', async () => {
    stack.resetStats();
    const q = `{ category(slug: "beauty") { products(first: 100) { nodes { recommendations(first: 50) { id title price { sale { amount } } } } } } }`;
    const r = await stack.gql(q, {}, WEB);
    expect(r.body.errors[0].extensions.code).toBe('COST_LIMIT_EXCEEDED');
    expect(r.body.errors[0].extensions.limit).toBe(SECURITY_DEFAULTS.maxCost);
    expect(totalCalls(stack)).toBe(0);
  });

  it('CSRF: a GET with a query or a form-like POST needs a preflight header; JSON POSTs do not', async () => {
    const get = await fetch(`${stack.url}/graphql?query=${encodeURIComponent('{ apiVersion }')}`, { headers: WEB });
    expect(get.status).toBe(403);
    expect(((await get.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('CSRF_PREVENTED');
    const form = await fetch(`${stack.url}/graphql`, { method: 'POST', headers: { 'content-type': 'text/plain', ...WEB }, body: JSON.stringify({ query: '{ apiVersion }' }) });
    expect(form.status).toBe(403);
    await form.text();
    const withHeader = await fetch(`${stack.url}/graphql?query=${encodeURIComponent('{ apiVersion }')}`, { headers: { ...WEB, 'x-graphql-csrf': '1', accept: 'application/json' } });
    expect(withHeader.status).toBe(200);
    // Apollo Client's GET queries (useGETForQueries) send content-type: application/json, which a form cannot: preflighted.
    const apollo = await fetch(`${stack.url}/graphql?query=${encodeURIComponent('{ apiVersion }')}`, { headers: { ...WEB, 'content-type': 'application/json', accept: 'application/json' } });
    expect(apollo.status).toBe(200);
    await apollo.text();
    const formGet = await fetch(`${stack.url}/graphql?query=${encodeURIComponent('{ apiVersion }')}`, { headers: { ...WEB, 'content-type': 'text/plain' } });
    expect(formGet.status).toBe(403);
    await formGet.text();
    expect(((await withHeader.json()) as { data: { apiVersion: string } }).data.apiVersion).toBeTruthy();
  });

  it('introspection and field suggestions are on in development', async () => {
    const r = await stack.gql('{ __schema { queryType { name } } }', {}, WEB);
    expect(r.body.data.__schema.queryType.name).toBe('Query');
    const typo = await stack.gql('{ apiVersio }', {}, WEB);
    expect(typo.body.errors[0].message).toMatch(/Did you mean "apiVersion"/);
  });

  it('production turns introspection and suggestions off by default', () => {
    const prod = loadSecurityConfig({}, 'production');
    expect([prod.introspection, prod.fieldSuggestions]).toEqual([false, false]);
    const dev = loadSecurityConfig({}, 'development');
    expect([dev.introspection, dev.fieldSuggestions]).toEqual([true, true]);
    expect(() => loadSecurityConfig({ GRAPHQL_MAX_DEPTH: '0' }, 'development')).toThrow(/GRAPHQL_MAX_DEPTH/);
    expect(() => loadSecurityConfig({ PERSISTED_OPERATIONS: 'some' }, 'development')).toThrow(/PERSISTED_OPERATIONS/);
  });
});

const manifest = buildManifest(new URL('../operations/', import.meta.url).pathname);
const idOf = (name: string) => `sha256:${manifest.operations.find((o) => o.name === name)!.sha256}`;

describe('persisted documents', () => {
  const MOBILE = { 'x-api-key': KEYS.mobile };

  it('the committed manifest is current and deterministic', () => {
    const committed = readFileSync(new URL('../generated/persisted-operations.json', import.meta.url), 'utf8');
    expect(committed).toBe(manifestText(manifest));
    expect(manifestText(buildManifest(new URL('../operations/', import.meta.url).pathname))).toBe(committed);
    expect(manifest.operations.map((o) => o.name)).toEqual(['CategoryPage', 'CheckoutQuote', 'PlaceOrder', 'ProductPage', 'Viewer']);
    for (const o of manifest.operations) expect(o.sha256).toBe(createHash('sha256').update(o.document).digest('hex'));
  });

  it('a mobile client limited to persisted operations is refused an ad-hoc query, with no upstream call', async () => {
    stack.resetStats();
    const r = await stack.gql('{ product(id: "1") { id title } }', {}, MOBILE);
    expect(r.status).toBe(403);
    expect(r.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_REQUIRED');
    expect(r.body.data).toBeUndefined();
    expect(totalCalls(stack)).toBe(0);
  });

  it('the mobile client runs a persisted operation by id, or by its exact text', async () => {
    const byId = await post(stack.url, { documentId: idOf('ProductPage'), variables: { id: '1', country: 'US', postcode: '10001' } }, MOBILE);
    expect(byId.body.errors).toBeUndefined();
    expect(byId.body.data.product.id).toBe('1');
    const apq = await post(stack.url, { extensions: { persistedQuery: { version: 1, sha256Hash: idOf('CategoryPage').slice(7) } }, variables: { slug: 'beauty', first: 20 } }, MOBILE);
    expect(apq.body.errors).toBeUndefined();
    const byText = await stack.gql(OPERATIONS.ProductPage, { id: '2', country: 'US', postcode: '10001' }, MOBILE);
    expect(byText.body.errors).toBeUndefined();
    expect(byText.body.data.product.id).toBe('2');
  });

  it('an unknown document id is a clear 400', async () => {
    const r = await post(stack.url, { documentId: `sha256:${'0'.repeat(64)}` }, MOBILE);
    expect(r.status).toBe(400);
    expect(r.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
  });
});

describe('production', () => {
  let prod: Stack;
  let only: Stack;
  beforeAll(async () => {
    // Production needs every upstream URL and credential: the stack gives the gateway its sandbox's.
    prod = await startStack({ env: { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), CLIENTS } });
    only = await startStack({ env: { CLIENTS, PERSISTED_OPERATIONS: 'only' } });
  });
  afterAll(async () => {
    await prod?.close();
    await only?.close();
  });

  it('refuses introspection and hides field suggestions', async () => {
    const intro = await prod.gql('{ __schema { queryType { name } } }', {}, WEB);
    expect(intro.status).toBe(400);
    expect(intro.body.errors[0].message).toMatch(/introspection has been disabled/);
    const typo = await prod.gql('{ apiVersio }', {}, WEB);
    expect(typo.status).toBe(400);
    expect(JSON.stringify(typo.body)).not.toMatch(/Did you mean/);
    const ok = await prod.gql(OPERATIONS.ProductPage, { id: '1', country: 'US', postcode: '10001' }, WEB);
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data.product.price.sale.amount).toMatch(/^\d+\.\d\d$/);
  });

  it('PERSISTED_OPERATIONS=only: every client is refused ad-hoc documents, persisted ones run', async () => {
    only.resetStats();
    const adHoc = await only.gql('{ product(id: "1") { id } }', {}, WEB);
    expect(adHoc.status).toBe(403);
    expect(adHoc.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_REQUIRED');
    expect(totalCalls(only)).toBe(0);
    const ok = await post(only.url, { documentId: idOf('ProductPage'), variables: { id: '1', country: 'US', postcode: '10001' } }, WEB);
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data.product.id).toBe('1');
  });
});

describe('upstream response size', () => {
  let small: Stack;
  beforeAll(async () => {
    small = await startStack({ env: { CLIENTS }, start: { policyOverrides: { reviews: { maxResponseBytes: 256 } } } });
  });
  afterAll(async () => {
    await small?.close();
  });

  it('an answer larger than the upstream\'s declared limit is aborted: a clear error on that field, the rest answered', async () => {
    const r = await small.gql(OPERATIONS.ProductPage, { id: '1', country: 'US', postcode: '10001' }, WEB);
    expect(r.status).toBe(200);
    expect(r.body.data.product.price).not.toBeNull();
    expect(r.body.data.product.reviews ?? null).toBeNull();
    const err = r.body.errors.find((e: { path: string[] }) => e.path.includes('reviews'));
    expect(err.extensions.code).toBe('UPSTREAM_ERROR');
    expect(err.message).toMatch(/larger than its limit/);
    expect(r.text).not.toContain('reviewerEmail');
    // Still answering.
    expect((await small.gql('{ apiVersion }', {}, WEB)).status).toBe(200);
  });
});
