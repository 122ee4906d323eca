/**
 * Automatic persisted queries and the manifests the tools write, with the real client libraries
 * against real gateways (real sandbox upstreams, real Redis):
 * - Apollo Client 4's `PersistedQueryLink` + `HttpLink`: the first ad-hoc query goes hash only, is
 *   not found, and is registered by the retry with its text (2 requests); the next time the hash alone
 *   is answered (1 request). A client limited to persisted operations never registers a document.
 * - Two gateways sharing Redis: registered on one, found by hash on the other.
 * - Apollo's persisted query manifest (`@apollo/generate-persisted-query-manifest`) and GraphQL Code
 *   Generator's client preset `persisted-documents.json`, each loaded at start-up, operations run by id
 *   (Apollo Client with `@apollo/persisted-query-lists`; `documentId` over POST and GET; Relay's `doc_id`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApolloClient, gql, HttpLink, InMemoryCache } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { generatePersistedQueryManifest, type PersistedQueryManifest } from '@apollo/generate-persisted-query-manifest';
import { generatePersistedQueryIdsFromManifest } from '@apollo/persisted-query-lists';
import { generate } from '@graphql-codegen/cli';
import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApqStore } from '../src/security/apq-store.js';
import { hashApiKey, loadSecurityConfig, PersistedDocuments } from '../src/security/index.js';
import { OPERATIONS, post, startStack, type Stack } from './support/stack.js';

const KEYS = { web: 'web-key-apq-000001', mobile: 'mobile-key-apq-00001' };
const CLIENTS = JSON.stringify([
  { name: 'web', keySha256: hashApiKey(KEYS.web), permissions: ['pii'], operations: 'any' },
  { name: 'mobile', keySha256: hashApiKey(KEYS.mobile), permissions: ['pii'], operations: 'persisted' },
]);
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const totalCalls = (stack: Stack) => Object.values(stack.sandbox.upstreams).reduce((n, u) => n + u.stats().total, 0);

/** What one request sent and got, as the client's fetch saw it. */
interface Sent {
  readonly method: string;
  readonly hasQuery: boolean;
  readonly hash: string | undefined;
  readonly status: number;
  readonly requestId: string | null;
}

/** Apollo Client over `fetch`, recording every request it makes. */
function apollo(stack: Stack, apiKey: string, link: PersistedQueryLink) {
  const sent: Sent[] = [];
  const recordingFetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const body = init?.body ? JSON.parse(String(init.body)) : {};
    const extensions = body.extensions ?? (url.searchParams.get('extensions') ? JSON.parse(url.searchParams.get('extensions')!) : undefined);
    const res = await fetch(input, init);
    sent.push({
      method: init?.method ?? 'GET',
      hasQuery: typeof body.query === 'string' || url.searchParams.has('query'),
      hash: extensions?.persistedQuery?.sha256Hash,
      status: res.status,
      requestId: res.headers.get('x-request-id'),
    });
    return res;
  };
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: link.concat(new HttpLink({ uri: `${stack.url}/graphql`, fetch: recordingFetch, headers: { 'x-api-key': apiKey } })),
    defaultOptions: { query: { fetchPolicy: 'no-cache' } },
  });
  return { client, sent };
}

/** The gateway's own log line of each request (it received it and answered with that status). */
async function serverStatuses(stack: Stack, sent: readonly Sent[]): Promise<number[]> {
  return Promise.all(sent.map(async (s) => (await stack.requestLog(s.requestId!)).status as number));
}

const PRODUCT = gql`
  query ApqProduct($id: ID!) {
    product(id: $id) {
      id
      title
    }
  }
`;

describe('automatic persisted queries (Apollo Client PersistedQueryLink)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CLIENTS } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('the first ad-hoc query registers through the retry (2 requests), the next is answered by hash alone (1 request)', async () => {
    const { client, sent } = apollo(stack, KEYS.web, new PersistedQueryLink({ sha256 }));
    const first = await client.query({ query: PRODUCT, variables: { id: '1' } });
    expect(first.error).toBeUndefined();
    expect(first.data).toMatchObject({ product: { id: '1' } });
    expect(sent.map((s) => [s.hasQuery, s.status])).toEqual([
      [false, 404],
      [true, 200],
    ]);
    expect(sent[0]!.hash).toBe(sent[1]!.hash);
    expect(await serverStatuses(stack, sent)).toEqual([404, 200]);

    // A new client (no memory of the first) sends the hash only, and is answered.
    const second = apollo(stack, KEYS.web, new PersistedQueryLink({ sha256 }));
    stack.resetStats();
    const again = await second.client.query({ query: PRODUCT, variables: { id: '2' } });
    expect(again.data).toMatchObject({ product: { id: '2' } });
    expect(second.sent.map((s) => [s.hasQuery, s.status])).toEqual([[false, 200]]);
    expect(await serverStatuses(stack, second.sent)).toEqual([200]);
    expect(totalCalls(stack)).toBeGreaterThan(0);

    // Over GET too (Apollo's useGETForHashedQueries: a GET with the extensions, application/json).
    const viaGet = apollo(stack, KEYS.web, new PersistedQueryLink({ sha256, useGETForHashedQueries: true }));
    const got = await viaGet.client.query({ query: PRODUCT, variables: { id: '3' } });
    expect(got.data).toMatchObject({ product: { id: '3' } });
    expect(viaGet.sent.map((s) => [s.method, s.hasQuery, s.status])).toEqual([['GET', false, 200]]);
  });

  it('a client limited to persisted operations cannot register: its retry is refused and the hash stays unknown', async () => {
    const QUERY = gql`
      query MobileAdHoc {
        product(id: "1") {
          id
        }
      }
    `;
    const { client, sent } = apollo(stack, KEYS.mobile, new PersistedQueryLink({ sha256 }));
    stack.resetStats();
    const r = await client.query({ query: QUERY }).catch((e: unknown) => ({ error: e, data: undefined }));
    expect(r.data).toBeUndefined();
    expect(JSON.stringify(r.error)).toMatch(/PERSISTED_QUERY_REQUIRED|persisted operations only/);
    expect(sent.map((s) => [s.hasQuery, s.status])).toEqual([
      [false, 404],
      [true, 403],
    ]);
    expect(totalCalls(stack)).toBe(0);
    // Not registered: the web client (allowed ad-hoc documents) does not find the hash either.
    const probe = await post(stack.url, { extensions: { persistedQuery: { version: 1, sha256Hash: sent[0]!.hash } } }, { 'x-api-key': KEYS.web });
    expect(probe.status).toBe(404);
    expect(probe.body.errors[0]).toMatchObject({ message: 'PersistedQueryNotFound', extensions: { code: 'PERSISTED_QUERY_NOT_FOUND' } });
  });

  it('a persisted-only client does not run a document another client registered', async () => {
    const query = '{ product(id: "4") { id } }';
    const hash = sha256(query);
    const web = await post(stack.url, { query, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }, { 'x-api-key': KEYS.web });
    expect(web.body.data.product.id).toBe('4');
    const webAgain = await post(stack.url, { extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }, { 'x-api-key': KEYS.web });
    expect(webAgain.body.data.product.id).toBe('4');
    const mobile = await post(stack.url, { extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }, { 'x-api-key': KEYS.mobile });
    expect(mobile.status).toBe(404);
    expect(mobile.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
  });

  it('a hash that is not the SHA-256 of the text is a clear 400, and nothing is registered', async () => {
    const query = '{ product(id: "5") { id } }';
    const wrong = sha256('something else');
    stack.resetStats();
    const r = await post(stack.url, { query, extensions: { persistedQuery: { version: 1, sha256Hash: wrong } } }, { 'x-api-key': KEYS.web });
    expect(r.status).toBe(400);
    expect(r.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_MISMATCH');
    expect(r.body.errors[0].message).toMatch(/not the SHA-256 of the query/);
    expect(totalCalls(stack)).toBe(0);
    const probe = await post(stack.url, { extensions: { persistedQuery: { version: 1, sha256Hash: wrong } } }, { 'x-api-key': KEYS.web });
    expect(probe.status).toBe(404);
    const bad = await post(stack.url, { query, extensions: { persistedQuery: { version: 2, sha256Hash: sha256(query) } } }, { 'x-api-key': KEYS.web });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_INVALID');
  });

  it('a document is registered only once it ran: one that fails validation or the cost limit is answered and never stored', async () => {
    const web = { 'x-api-key': KEYS.web };
    const invalid = '{ product(id: "1") { noSuchField } }';
    const tooCostly = '{ category(slug: "beauty") { products(first: 100) { nodes { id reviews(first: 100) { rating comment date } } } } }';
    for (const [query, code] of [[invalid, 'GRAPHQL_VALIDATION_FAILED'], [tooCostly, 'COST_LIMIT_EXCEEDED']] as const) {
      stack.resetStats();
      const r = await post(stack.url, { query, extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } }, web);
      expect(r.body.data).toBeUndefined();
      expect(r.body.errors[0].extensions.code).toBe(code);
      expect(totalCalls(stack)).toBe(0);
      const probe = await post(stack.url, { extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } }, web);
      expect(probe.status).toBe(404);
      expect(probe.body.errors[0].message).toBe('PersistedQueryNotFound');
    }
  });

  it('documentId works over GET and POST, and Relay\'s doc_id over POST', async () => {
    const manifest = PersistedDocuments.fromFile(new URL('../generated/persisted-operations.json', import.meta.url).pathname);
    const id = `sha256:${sha256(OPERATIONS.ProductPage.trim())}`;
    expect(manifest.get(id)?.name).toBe('ProductPage');
    const variables = { id: '1', country: 'US', postcode: '10001' };
    const qs = new URLSearchParams({ documentId: id, variables: JSON.stringify(variables) });
    const res = await fetch(`${stack.url}/graphql?${qs}`, { headers: { accept: 'application/json', 'x-graphql-csrf': '1', 'x-api-key': KEYS.mobile } });
    const body = await res.json();
    expect(res.status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data.product.id).toBe('1');
    // Without a preflight signal a GET is refused (CSRF), as before.
    const bare = await fetch(`${stack.url}/graphql?${qs}`, { headers: { 'x-api-key': KEYS.mobile } });
    expect(bare.status).toBe(403);
    const relay = await post(stack.url, { doc_id: id, variables }, { 'x-api-key': KEYS.mobile });
    expect(relay.body.errors).toBeUndefined();
    expect(relay.body.data.product.id).toBe('1');
    const unknown = await post(stack.url, { doc_id: 'sha256:0000', variables }, { 'x-api-key': KEYS.mobile });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
  });
});

describe('APQ=off', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CLIENTS, APQ: 'off' } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('answers PersistedQueryNotSupported: Apollo Client then sends plain documents', async () => {
    const { client, sent } = apollo(stack, KEYS.web, new PersistedQueryLink({ sha256 }));
    const first = await client.query({ query: PRODUCT, variables: { id: '1' } });
    expect(first.data).toMatchObject({ product: { id: '1' } });
    const second = await client.query({ query: PRODUCT, variables: { id: '2' } });
    expect(second.data).toMatchObject({ product: { id: '2' } });
    expect(sent.map((s) => [s.hasQuery, s.hash !== undefined, s.status])).toEqual([
      [false, true, 400],
      [true, false, 200],
      [true, false, 200],
    ]);
  });
});

describe('APQ shared through Redis by two gateways', () => {
  let a: Stack;
  let b: Stack;
  let env: Record<string, string>;
  beforeAll(async () => {
    env = { CLIENTS, REDIS_URL: 'redis://127.0.0.1:6379', CACHE_NAMESPACE: `apq-test-${randomBytes(6).toString('hex')}` };
    [a, b] = await Promise.all([startStack({ env }), startStack({ env })]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('registered on one gateway, answered by hash alone on the other', async () => {
    const QUERY = gql`
      query SharedApq($id: ID!) {
        product(id: $id) {
          id
          title
        }
      }
    `;
    const onA = apollo(a, KEYS.web, new PersistedQueryLink({ sha256 }));
    expect((await onA.client.query({ query: QUERY, variables: { id: '1' } })).data).toMatchObject({ product: { id: '1' } });
    expect(onA.sent.map((s) => [s.hasQuery, s.status])).toEqual([
      [false, 404],
      [true, 200],
    ]);
    // The document is in Redis, under the namespace, with the time to live.
    const redis = createClient({ url: env.REDIS_URL });
    await redis.connect();
    try {
      const key = `${env.CACHE_NAMESPACE}:apq:${onA.sent[1]!.hash}`;
      expect(await redis.get(key)).toContain('query SharedApq');
      const ttl = await redis.pTTL(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(86_400_000);
    } finally {
      await redis.quit();
    }
    const onB = apollo(b, KEYS.web, new PersistedQueryLink({ sha256 }));
    b.resetStats();
    expect((await onB.client.query({ query: QUERY, variables: { id: '2' } })).data).toMatchObject({ product: { id: '2' } });
    expect(onB.sent.map((s) => [s.hasQuery, s.status])).toEqual([[false, 200]]);
    expect(await serverStatuses(b, onB.sent)).toEqual([200]);
    expect(totalCalls(b)).toBeGreaterThan(0);
  });
});

describe('APQ with Redis unreachable', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { CLIENTS, REDIS_URL: 'redis://127.0.0.1:1', CACHE: 'off' } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('registers in memory and keeps answering: the protocol still takes 2 requests, then 1', async () => {
    const first = apollo(stack, KEYS.web, new PersistedQueryLink({ sha256 }));
    expect((await first.client.query({ query: PRODUCT, variables: { id: '1' } })).data).toMatchObject({ product: { id: '1' } });
    const second = apollo(stack, KEYS.web, new PersistedQueryLink({ sha256 }));
    expect((await second.client.query({ query: PRODUCT, variables: { id: '2' } })).data).toMatchObject({ product: { id: '2' } });
    expect([first.sent.map((s) => s.status), second.sent.map((s) => s.status)]).toEqual([[404, 200], [200]]);
  });
});

describe('manifests written by the tools', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-manifests-'));
  let apolloManifest: PersistedQueryManifest;
  let codegen: Record<string, string>;
  let withApollo: Stack;
  let withCodegen: Stack;
  beforeAll(async () => {
    // Apollo's manifest, as `generate-persisted-query-manifest` writes it from operations/ (with __typename added).
    apolloManifest = await generatePersistedQueryManifest({ documents: ['operations/*.graphql'] }, undefined);
    writeFileSync(join(dir, 'apollo.json'), JSON.stringify(apolloManifest));
    // GraphQL Code Generator's client preset with persisted documents, from schema/ and operations/.
    const files = await generate(
      { schema: 'schema/*.graphql', documents: 'operations/*.graphql', silent: true, generates: { [`${dir}/client/`]: { preset: 'client', presetConfig: { persistedDocuments: true, fragmentMasking: false } } } },
      false,
    );
    const persisted = files.find((f: { filename: string }) => f.filename.endsWith('persisted-documents.json'))!;
    codegen = JSON.parse(persisted.content);
    writeFileSync(join(dir, 'persisted-documents.json'), persisted.content);
    [withApollo, withCodegen] = await Promise.all([
      startStack({ env: { CLIENTS, PERSISTED_OPERATIONS_FILE: join(dir, 'apollo.json') } }),
      startStack({ env: { CLIENTS, PERSISTED_OPERATIONS: 'only', PERSISTED_OPERATIONS_FILE: join(dir, 'persisted-documents.json') } }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await withApollo?.close();
    await withCodegen?.close();
  });

  it('the files are the tools\' formats, with ids that are not our own hashes', () => {
    expect(apolloManifest.format).toBe('apollo-persisted-query-manifest');
    expect(apolloManifest.operations.map((o) => o.name).sort()).toEqual(['CategoryPage', 'CheckoutQuote', 'PlaceOrder', 'ProductPage', 'Viewer']);
    expect(Object.keys(codegen)).toHaveLength(5);
    for (const [id, text] of Object.entries(codegen)) expect(id).toBe(`sha256:${sha256(text)}`);
    // Theirs hash the printed document, ours the file's text: different ids for the same operation.
    const ours = `sha256:${sha256(OPERATIONS.ProductPage.trim())}`;
    const theirs = [Object.keys(codegen).find((id) => codegen[id]!.startsWith('query ProductPage'))!, apolloManifest.operations.find((o) => o.name === 'ProductPage')!.id];
    expect(theirs.map((id) => id.replace('sha256:', ''))).not.toContain(ours.replace('sha256:', ''));
    expect(PersistedDocuments.fromFile(join(dir, 'apollo.json')).format).toBe('apollo');
    expect(PersistedDocuments.fromFile(join(dir, 'persisted-documents.json')).format).toBe('codegen');
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 2, operations: [] }));
    expect(() => PersistedDocuments.fromFile(join(dir, 'bad.json'))).toThrow(/malformed: an Apollo manifest must have "version": 1/);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify([1, 2]));
    expect(() => PersistedDocuments.fromFile(join(dir, 'bad.json'))).toThrow(/malformed/);
  });

  it('Apollo manifest: a persisted-only client runs ProductPage by the manifest\'s id in one request (persisted-query-lists)', async () => {
    const link = new PersistedQueryLink(generatePersistedQueryIdsFromManifest({ loadManifest: async () => apolloManifest }));
    const { client, sent } = apollo(withApollo, KEYS.mobile, link);
    const r = await client.query({ query: gql(OPERATIONS.ProductPage), variables: { id: '1', country: 'US', postcode: '10001' } });
    expect(r.error).toBeUndefined();
    expect(r.data).toMatchObject({ product: { id: '1' } });
    const productPage = apolloManifest.operations.find((o) => o.name === 'ProductPage')!;
    expect(sent).toMatchObject([{ hasQuery: false, hash: productPage.id, status: 200 }]);
    // The manifest's document sent in full counts as persisted too.
    const byText = await post(withApollo.url, { query: productPage.body, variables: { id: '2', country: 'US', postcode: '10001' } }, { 'x-api-key': KEYS.mobile });
    expect(byText.body.data.product.id).toBe('2');
  });

  it('Code Generator persisted-documents.json with PERSISTED_OPERATIONS=only: operations run by documentId (POST and GET), ad-hoc refused', async () => {
    const [id] = Object.entries(codegen).find(([, text]) => text.startsWith('query ProductPage'))!;
    const variables = { id: '1', country: 'US', postcode: '10001' };
    const byPost = await post(withCodegen.url, { documentId: id, variables }, { 'x-api-key': KEYS.web });
    expect(byPost.body.errors).toBeUndefined();
    expect(byPost.body.data.product.id).toBe('1');
    const qs = new URLSearchParams({ documentId: id, variables: JSON.stringify(variables) });
    const res = await fetch(`${withCodegen.url}/graphql?${qs}`, { headers: { accept: 'application/json', 'content-type': 'application/json', 'x-api-key': KEYS.web } });
    expect(res.status).toBe(200);
    expect((await res.json()).data.product.id).toBe('1');
    withCodegen.resetStats();
    const adHoc = await post(withCodegen.url, { query: '{ product(id: "1") { id } }', extensions: { persistedQuery: { version: 1, sha256Hash: sha256('{ product(id: "1") { id } }') } } }, { 'x-api-key': KEYS.web });
    expect(adHoc.status).toBe(403);
    expect(adHoc.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_REQUIRED');
    expect(totalCalls(withCodegen)).toBe(0);
  });
});

describe('the APQ store (memory)', () => {
  it('is bounded in entries and in bytes, least recently used out first, and forgets after its time to live', async () => {
    const byEntries = createApqStore({ maxEntries: 2, maxBytes: 1_000_000, ttlMs: 60_000 });
    await byEntries.set('a'.repeat(64), '{ a }');
    await byEntries.set('b'.repeat(64), '{ b }');
    expect(await byEntries.get('a'.repeat(64))).toBe('{ a }'); // a is now the most recently used
    await byEntries.set('c'.repeat(64), '{ c }');
    expect([await byEntries.get('a'.repeat(64)), await byEntries.get('b'.repeat(64)), await byEntries.get('c'.repeat(64))]).toEqual(['{ a }', undefined, '{ c }']);
    expect(byEntries.size).toBe(2);

    // 64 bytes of key + 436 of document = 500 bytes each: two fit in 1,000, a third pushes the oldest out.
    const byBytes = createApqStore({ maxEntries: 100, maxBytes: 1_000, ttlMs: 60_000 });
    const doc = (c: string) => `{ ${c.repeat(432)} }`;
    for (const c of ['d', 'e', 'f']) await byBytes.set(c.repeat(64), doc(c));
    expect(byBytes.size).toBe(2);
    expect(await byBytes.get('d'.repeat(64))).toBeUndefined();
    expect(await byBytes.get('f'.repeat(64))).toBe(doc('f'));
    // A document larger than the whole bound is not kept.
    await byBytes.set('g'.repeat(64), `{ ${'g'.repeat(2_000)} }`);
    expect(await byBytes.get('g'.repeat(64))).toBeUndefined();

    const short = createApqStore({ maxEntries: 10, maxBytes: 10_000, ttlMs: 20 });
    await short.set('h'.repeat(64), '{ h }');
    expect(await short.get('h'.repeat(64))).toBe('{ h }');
    await new Promise((r) => setTimeout(r, 60));
    expect(await short.get('h'.repeat(64))).toBeUndefined();
    for (const s of [byEntries, byBytes, short]) await s.close();
  });

  it('the settings are read and validated with the others', () => {
    expect(loadSecurityConfig({}, 'production').apq).toEqual({ enabled: true, maxEntries: 10_000, maxBytes: 16 * 1024 * 1024, ttlMs: 86_400_000 });
    expect(loadSecurityConfig({ APQ: 'off', APQ_MAX_ENTRIES: '5', APQ_MAX_BYTES: '4096', APQ_TTL_SECONDS: '60' }, 'development').apq).toEqual({ enabled: false, maxEntries: 5, maxBytes: 4096, ttlMs: 60_000 });
    expect(() => loadSecurityConfig({ APQ: 'yes' }, 'development')).toThrow(/APQ must be "on" or "off"/);
    expect(() => loadSecurityConfig({ APQ_TTL_SECONDS: '0' }, 'development')).toThrow(/APQ_TTL_SECONDS/);
  });
});
