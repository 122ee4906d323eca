/**
 * The fast path (`src/http/fast-path.ts`): a plain JSON POST goes through yoga's plugins without the
 * Fetch API objects. Two gateways, one with DIRECT_EXECUTION off (yoga's Node adapter serves
 * everything), are sent the same requests, each twice, with the same request id: status, content
 * type and body must be byte-for-byte the same, and the fast one must have executed exactly the
 * operations it may (`directStats().served` counts operations the fast path executed: a request it
 * answers with a refusal or a request error before execution is not counted).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fastPathParams } from '../src/http/fast-path-params.js';
import { acceptedMediaType, responseInit, serializeResult } from '../src/http/json-response.js';
import { CONFIG_DEFAULTS } from '../src/config.js';
import { signUserToken } from '../src/identity.js';
import { hashApiKey } from '../src/security/clients.js';
import { post, startStack, type Stack } from './support/stack.js';
import { GraphQLError } from 'graphql';

const op = (name: string) => readFileSync(new URL(`../operations/${name}.graphql`, import.meta.url), 'utf8');
const KEYS = { web: 'web-key-direct-0001', partner: 'partner-key-direct-0001', mobile: 'mobile-key-direct-0001' };
const CLIENTS = JSON.stringify([
  { name: 'web', keySha256: hashApiKey(KEYS.web), permissions: ['pii', 'trace'], operations: 'any' },
  { name: 'partner', keySha256: hashApiKey(KEYS.partner), permissions: [], operations: 'any' },
  { name: 'mobile', keySha256: hashApiKey(KEYS.mobile), permissions: ['pii'], operations: 'persisted' },
]);
const WEB = { 'x-api-key': KEYS.web };
const MOBILE = { 'x-api-key': KEYS.mobile };
const APQ_QUERY = '{ categories { slug } apiVersion }';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const PERSISTED_ID = (JSON.parse(readFileSync(new URL('../generated/persisted-operations.json', import.meta.url), 'utf8')) as { operations: { name: string; sha256: string }[] }).operations.find((o) => o.name === 'CategoryPage')!.sha256;
const PARTNER = { 'x-api-key': KEYS.partner };

interface Case {
  readonly name: string;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
  /** The status both paths answer with. */
  readonly status: number;
  /** Whether the second request may be served directly. */
  readonly direct: boolean;
}

/** A document learned by the first case: requests that must not be direct are sent with it. */
const CATEGORY = { query: op('CategoryPage'), variables: { slug: 'groceries', first: 5 } };
const TWO_OPS = 'query A { categories { slug } } query B { product(id: "1") { id title } }';
const cases = (token: string): Case[] => [
  { name: 'CategoryPage', body: { query: op('CategoryPage'), variables: { slug: 'groceries', first: 5 } }, status: 200, direct: true },
  { name: 'ProductPage, signed in', body: { query: op('ProductPage'), variables: { id: '16', country: 'US', postcode: '10001' } }, headers: { authorization: `Bearer ${token}` }, status: 200, direct: true },
  { name: 'CheckoutQuote', body: { query: op('CheckoutQuote'), variables: { lines: [{ productId: '1', quantity: 2 }, { productId: '5', quantity: 1 }], country: 'US', postcode: '10001' } }, status: 200, direct: true },
  { name: 'Viewer, @pii for a client with the permission', body: { query: op('Viewer') }, headers: { ...WEB, authorization: `Bearer ${token}` }, status: 200, direct: true },
  { name: 'Viewer, @pii without the permission', body: { query: op('Viewer') }, headers: { ...PARTNER, authorization: `Bearer ${token}` }, status: 200, direct: true },
  { name: 'no API key (clients are configured)', body: { query: op('CategoryPage'), variables: { slug: 'groceries', first: 5 } }, headers: { 'x-api-key': '' }, status: 401, direct: false },
  { name: 'an unknown API key', body: { query: op('CategoryPage'), variables: { slug: 'groceries', first: 5 } }, headers: { 'x-api-key': 'nobody' }, status: 401, direct: false },
  { name: 'a product that does not exist', body: { query: '{ product(id: "999999") { id title } }' }, status: 200, direct: true },
  { name: 'a hostile id', body: { query: 'query($id: ID!) { product(id: $id) { id } }', variables: { id: '../users/1' } }, status: 200, direct: true },
  { name: 'variables of the wrong type', body: { query: op('CategoryPage'), variables: { slug: 'groceries', first: 'many' } }, status: 400, direct: true },
  { name: 'a missing required variable', body: { query: op('CategoryPage'), variables: { first: 5 } }, status: 400, direct: true },
  { name: 'two operations, one named', body: { query: TWO_OPS, operationName: 'B' }, status: 200, direct: true },
  { name: 'two operations, the other one named', body: { query: TWO_OPS, operationName: 'A' }, status: 200, direct: true },
  { name: 'Content-Type: application/json; charset=utf-8', body: { query: '{ categories { slug name } }' }, headers: { 'content-type': 'application/json; charset=utf-8' }, status: 200, direct: true },
  { name: 'Content-Type: application/graphql+json', body: { query: '{ categories { slug name } }' }, headers: { 'content-type': 'application/graphql+json' }, status: 200, direct: true },
  { name: 'Content-Type: text/plain; charset=json (CSRF)', body: CATEGORY, headers: { 'content-type': 'text/plain; charset=json' }, status: 403, direct: false },
  { name: 'Content-Type: application/jsonx', body: CATEGORY, headers: { 'content-type': 'application/jsonx' }, status: 415, direct: false },
  { name: 'Content-Type: text/json', body: CATEGORY, headers: { 'content-type': 'text/json' }, status: 415, direct: false },
  { name: 'two operations, none named', body: { query: TWO_OPS }, status: 400, direct: false },
  { name: 'an operation name not in the document', body: { query: TWO_OPS, operationName: 'C' }, status: 400, direct: false },
  { name: 'Accept: application/graphql-response+json', body: { query: '{ categories { slug } }' }, headers: { accept: 'application/graphql-response+json' }, status: 200, direct: true },
  { name: 'graphql-response+json and wrong variables', body: { query: op('CategoryPage'), variables: { first: 5 } }, headers: { accept: 'application/graphql-response+json' }, status: 400, direct: true },
  { name: 'Accept: */*', body: { query: '{ categories { name } }' }, headers: { accept: '*/*' }, status: 200, direct: true },
  { name: 'Accept: text/event-stream', body: { query: '{ categories { slug name } }' }, headers: { accept: 'text/event-stream' }, status: 200, direct: false },
  { name: 'Accept: text/event-stream, application/json', body: { query: '{ categories { slug } }' }, headers: { accept: 'text/event-stream, application/json' }, status: 200, direct: true },
  { name: 'Accept: a charset other than utf-8', body: { query: '{ categories { slug } }' }, headers: { accept: 'application/json; charset=iso-8859-1' }, status: 406, direct: false },
  { name: 'an unknown field (invalid, never learned)', body: { query: '{ categories { slug nope } }' }, status: 400, direct: false },
  { name: 'a syntax error', body: { query: '{ categories { ' }, status: 400, direct: false },
  { name: 'an unknown body key', body: { query: '{ categories { slug } }', extra: 1 }, status: 400, direct: false },
  { name: 'a persisted-query extension', body: { query: '{ categories { slug } }', extensions: { persistedQuery: { version: 1, sha256Hash: 'abc' } } }, status: 400, direct: false },
  { name: 'another extension', body: { query: '{ categories { slug } }', extensions: { note: 1 } }, status: 200, direct: true },
  { name: 'a batch', body: [{ query: '{ categories { slug } }' }], status: 200, direct: false },
  { name: 'over the cost limit', body: { query: op('CategoryPage'), variables: { slug: 'groceries', first: 100000 } }, status: 400, direct: false },
  { name: 'an invalid token', body: { query: '{ categories { slug } }' }, headers: { authorization: 'Bearer not-a-token' }, status: 401, direct: false },
  { name: 'a known ad-hoc document from a persisted-only client', body: { query: '{ categories { slug } }' }, headers: MOBILE, status: 403, direct: false },
  { name: 'a persisted document sent as text by a persisted-only client', body: { query: op('CategoryPage'), variables: { slug: 'groceries', first: 3 } }, headers: MOBILE, status: 200, direct: true },
  { name: 'a documentId from a persisted-only client', body: { documentId: `sha256:${PERSISTED_ID}`, variables: { slug: 'groceries', first: 4 } }, headers: MOBILE, status: 200, direct: true },
  { name: 'a documentId from a client that may send anything', body: { documentId: `sha256:${PERSISTED_ID}`, variables: { slug: 'groceries', first: 4 } }, status: 200, direct: true },
  { name: 'a documentId with wrong variables', body: { documentId: `sha256:${PERSISTED_ID}`, variables: { first: 4 } }, headers: MOBILE, status: 400, direct: true },
  { name: 'an unknown documentId', body: { documentId: `sha256:${'0'.repeat(64)}` }, headers: MOBILE, status: 400, direct: false },
  { name: 'a documentId that is not a string', body: { documentId: 7 }, headers: MOBILE, status: 400, direct: false },
  { name: 'APQ: an unknown hash alone', body: { extensions: { persistedQuery: { version: 1, sha256Hash: 'f'.repeat(64) } } }, status: 404, direct: false },
  { name: 'APQ: a query sent with its hash (registered)', body: { query: APQ_QUERY, extensions: { persistedQuery: { version: 1, sha256Hash: sha256(APQ_QUERY) } } }, status: 200, direct: true },
  { name: 'APQ: the hash alone, once registered', body: { extensions: { persistedQuery: { version: 1, sha256Hash: sha256(APQ_QUERY) } } }, status: 200, direct: true },
  { name: 'APQ: a hash alone from a persisted-only client', body: { extensions: { persistedQuery: { version: 1, sha256Hash: sha256(APQ_QUERY) } } }, headers: MOBILE, status: 404, direct: false },
  { name: 'a documentId and a query (left to yoga)', body: { documentId: `sha256:${PERSISTED_ID}`, query: op('CategoryPage'), variables: { slug: 'groceries', first: 4 } }, headers: MOBILE, status: 200, direct: false },
];

describe('the direct path answers exactly as yoga does', () => {
  let direct: Stack;
  let yoga: Stack;
  let token: string;
  beforeAll(async () => {
    const env = { CACHE: 'off', CLIENTS };
    [direct, yoga] = await Promise.all([startStack({ env }), startStack({ env: { ...env, DIRECT_EXECUTION: 'off' } })]);
    token = await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '1');
  });
  afterAll(async () => {
    await direct?.close();
    await yoga?.close();
  });

  it('gives the same status, content type and body for every case, and serves directly exactly the ones it may', async () => {
    const table = cases(token);
    for (const [i, c] of table.entries()) {
      for (const round of [1, 2]) {
        const headers = { 'x-request-id': `direct-case-${i}-${round}`, ...WEB, ...c.headers };
        const before = direct.gateway.gateway.directStats().served;
        const [a, b] = await Promise.all([post(direct.url, c.body, headers), post(yoga.url, c.body, headers)]);
        const servedDirectly = direct.gateway.gateway.directStats().served - before;
        const what = `${c.name}, request ${round}`;
        expect({ what, status: a.status }).toEqual({ what, status: c.status });
        expect({ what, status: a.status, type: a.headers.get('content-type'), body: a.text }).toEqual({ what, status: b.status, type: b.headers.get('content-type'), body: b.text });
        // A request that may not be direct never is; the second request of one that may always is (the
        // first learned the document, unless an earlier case had sent the same document).
        if (round === 2 || !c.direct) expect({ what, servedDirectly }).toEqual({ what, servedDirectly: c.direct ? 1 : 0 });
      }
    }
    expect(yoga.gateway.gateway.directStats()).toEqual({ served: 0, documents: 0 });
  });

  it('makes the same upstream calls', async () => {
    const body = { query: op('CategoryPage'), variables: { slug: 'kitchen-accessories', first: 20 } };
    await post(direct.url, body, WEB);
    await post(yoga.url, body, WEB);
    direct.resetStats();
    yoga.resetStats();
    const before = direct.gateway.gateway.directStats().served;
    await post(direct.url, body, WEB);
    await post(yoga.url, body, WEB);
    expect(direct.gateway.gateway.directStats().served).toBe(before + 1);
    const calls = (s: Stack) => Object.fromEntries(Object.entries(s.sandbox.upstreams).map(([n, u]) => [n, u.stats().counts]).filter(([, c]) => Object.keys(c as object).length));
    expect(calls(direct)).toEqual(calls(yoga));
    expect(Object.keys(calls(direct)).sort()).toEqual(['catalog', 'inventory', 'pricing']);
  });

  it('keeps partial data and the upstream errors when an upstream fails', async () => {
    const body = { query: op('CategoryPage'), variables: { slug: 'groceries', first: 4 } };
    await post(direct.url, body, WEB);
    direct.sandbox.upstream('inventory').setFaults({ down: true });
    yoga.sandbox.upstream('inventory').setFaults({ down: true });
    try {
      const headers = { 'x-request-id': 'direct-partial', ...WEB };
      const before = direct.gateway.gateway.directStats().served;
      const masked = (st: Stack) => st.logs.filter((l) => l.msg === 'yoga error').length;
      const [maskedA, maskedB] = [masked(direct), masked(yoga)];
      const [a, b] = await Promise.all([post(direct.url, body, headers), post(yoga.url, body, headers)]);
      expect(direct.gateway.gateway.directStats().served).toBe(before + 1);
      // The errors yoga masks are logged; the direct path logs the same lines.
      await direct.requestLog('direct-partial');
      await yoga.requestLog('direct-partial');
      expect(masked(direct) - maskedA).toBe(masked(yoga) - maskedB);
      expect(masked(direct) - maskedA).toBeGreaterThan(0);
      expect(a.status).toBe(200);
      expect(a.body.errors.map((e: { extensions: { code: string } }) => e.extensions.code)).toContain('UPSTREAM_UNAVAILABLE');
      expect(a.body.data.category.products.nodes[0].title).toEqual(expect.any(String));
      expect(a.text).toBe(b.text);
    } finally {
      direct.sandbox.upstream('inventory').setFaults(null);
      yoga.sandbox.upstream('inventory').setFaults(null);
    }
  });

  it('logs, traces and counts a direct request like any other', async () => {
    const body = { query: op('CategoryPage'), variables: { slug: 'groceries', first: 2 } };
    await post(direct.url, body, WEB);
    const before = direct.gateway.gateway.directStats().served;
    const counted = async () => {
      const text = await (await fetch(`${direct.url}/metrics`)).text();
      return [...text.matchAll(/^tributary_graphql_requests_total\{([^}]*)\} (\d+)$/gm)].filter((m) => m[1]!.includes('operation="CategoryPage"')).reduce((n, m) => n + Number(m[2]), 0);
    };
    const countedBefore = await counted();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const r = await post(direct.url, body, { 'x-request-id': 'direct-observed', 'x-tributary-trace': '1', traceparent, ...WEB });
    expect(direct.gateway.gateway.directStats().served).toBe(before + 1);
    expect(r.status).toBe(200);
    const trace = r.body.extensions.trace;
    expect(trace).toMatchObject({ requestId: 'direct-observed', traceId: '0af7651916cd43dd8448eb211c80319c', operationName: 'CategoryPage' });
    expect(trace.calls.map((c: { upstream: string }) => c.upstream).sort()).toEqual(['catalog', 'catalog', 'inventory', 'pricing']);
    const line = await direct.requestLog('direct-observed');
    expect(line).toMatchObject({ operation: 'CategoryPage', type: 'query', status: 200, upstreamCalls: 4, traceId: '0af7651916cd43dd8448eb211c80319c' });
    const stored = (await (await fetch(`${direct.url}/traces/direct-observed`)).json()) as { operationName: string; calls: unknown[] };
    expect(stored.operationName).toBe('CategoryPage');
    expect(stored.calls).toHaveLength(4);
    // Every upstream call carried the client's trace id.
    const seen = direct.sandbox.upstream('pricing').stats().requests.at(-1)!.headers.traceparent;
    expect(seen).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    expect(await counted()).toBe(countedBefore + 1);
  });

  it('aborts the upstream calls of a client that goes away', async () => {
    const body = { query: op('CategoryPage'), variables: { slug: 'groceries', first: 3 } };
    await post(direct.url, body, WEB);
    direct.sandbox.upstream('pricing').setFaults({ hang: { probability: 1 } });
    try {
      const ac = new AbortController();
      const before = direct.gateway.gateway.directStats().served;
      const sent = fetch(`${direct.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'direct-gone', ...WEB }, body: JSON.stringify(body), signal: ac.signal }).catch((e: unknown) => e);
      const { eventually } = await import('./support/wait.js');
      await eventually(() => direct.sandbox.upstream('pricing').stats().requests.some((q) => q.headers['x-request-id'] === 'direct-gone' || q.path.includes('prices')), 'the pricing call was sent');
      ac.abort();
      await sent;
      const line = await direct.requestLog('direct-gone');
      expect(line).toMatchObject({ aborted: true, operation: 'CategoryPage' });
      expect(direct.gateway.gateway.directStats().served).toBe(before + 1);
    } finally {
      direct.sandbox.upstream('pricing').setFaults(null);
    }
  });
});

describe('direct path helpers', () => {
  it('choose the media type as yoga does', () => {
    expect(acceptedMediaType(undefined)).toBe('application/json');
    expect(acceptedMediaType('')).toBe('application/json');
    expect(acceptedMediaType('*/*')).toBe('application/json');
    expect(acceptedMediaType('application/*')).toBe('application/json');
    expect(acceptedMediaType('application/graphql-response+json, application/json')).toBe('application/graphql-response+json');
    expect(acceptedMediaType('application/json, application/graphql-response+json')).toBe('application/json');
    expect(acceptedMediaType('text/event-stream, application/json;q=0.9')).toBe('application/json');
    expect(acceptedMediaType('application/json; charset=latin1')).toBeUndefined();
    expect(acceptedMediaType('multipart/mixed')).toBeUndefined();
    expect(acceptedMediaType('text/html')).toBeUndefined();
  });

  it('take only single operations with the standard keys', () => {
    expect(fastPathParams({ query: '{ a }' })).toEqual({ query: '{ a }', operationName: null, variables: {} });
    expect(fastPathParams({ query: '{ a }', variables: null, operationName: null, extensions: null })).toEqual({ query: '{ a }', operationName: null, variables: {} });
    expect(fastPathParams({ documentId: 'sha256:ab', variables: { a: 1 } })).toEqual({ query: null, documentId: 'sha256:ab', operationName: null, variables: { a: 1 } });
    expect(fastPathParams({ extensions: { persistedQuery: { version: 1, sha256Hash: 'ab' } } })).toEqual({ query: null, operationName: null, variables: {} });
    expect(fastPathParams({ query: '{ a }', extensions: { persistedQuery: { version: 1, sha256Hash: 'ab' } } })).toEqual({ query: '{ a }', operationName: null, variables: {} });
    for (const body of [null, [], [{ query: '{ a }' }], { query: 1 }, {}, { documentId: 1 }, { query: null, documentId: null }, { query: '{ a }', variables: [] }, { query: '{ a }', variables: 'x' }, { query: '{ a }', operationName: 2 }, { query: '{ a }', documentId: 'x' }, { query: '{ a }', extensions: { persistedQuery: {} } }, { query: '{ a }', extensions: [] }, { documentId: 'x', extensions: { persistedQuery: { sha256Hash: 'ab' } } }, { extensions: { persistedQuery: 'ab' } }]) {
      expect(fastPathParams(body)).toBeUndefined();
    }
  });

  it('derive the status and drop internal extensions', () => {
    const spec = new GraphQLError('bad', { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { spec: true, status: 400 } } });
    expect(responseInit({ errors: [spec] }, 'application/json').status).toBe(200);
    expect(responseInit({ errors: [spec] }, 'application/graphql-response+json').status).toBe(400);
    expect(responseInit({ errors: [spec], extensions: { http: { status: 400 } } }, 'application/json').status).toBe(400);
    expect(responseInit({ data: { a: 1 } }, 'application/json')).toEqual({ status: 200, headers: {} });
    const out = JSON.parse(serializeResult({ data: null, errors: [spec], extensions: { http: { status: 400 }, trace: 1 } }));
    expect(out).toEqual({ data: null, errors: [{ message: 'bad', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }], extensions: { trace: 1 } });
  });
});
