/**
 * A value the GraphQL type cannot represent is an upstream contract violation naming upstream,
 * endpoint and path, never the value (issue 17): an out-of-range Int in `enforce` mode (refused at
 * the connector), and in `report` mode an out-of-range Int and an object in a String field (refused
 * where GraphQL serialises them), on yoga's path and the direct one, with graphql-jit and without,
 * fresh and from the cache. The reviews upstream is a real HTTP server answering what each test says.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../sandbox/index.js';
import { GraphQLError } from 'graphql';
import { Telemetry } from '../src/connector/index.js';
import { int32Integers, LeafContract, leafFailure, leafFailureType } from '../src/leaf-contract.js';
import type { RequestState } from '../src/server.js';
import { startTributary, type Tributary } from '../src/main.js';
import { post } from './support/stack.js';

/** What the fake reviews upstream answers for each review (productId filled in). */
let review: Record<string, unknown> = {};
let reviewsServer: Server;
let reviewsUrl: string;
let sandbox: Sandbox;
const requests: string[] = [];

beforeAll(async () => {
  sandbox = await startSandbox({ portBase: 0 });
  reviewsServer = createServer((req, res) => {
    requests.push(req.url ?? '');
    const ids = new URL(req.url ?? '/', 'http://x').searchParams.get('productIds')?.split(',') ?? [];
    const body = JSON.stringify({ reviews: ids.map((id) => ({ productId: Number(id), comment: 'fine', date: '2025-01-01', reviewerName: 'R', rating: 4, ...review })) });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => reviewsServer.listen(0, '127.0.0.1', resolve));
  reviewsUrl = `http://127.0.0.1:${(reviewsServer.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => reviewsServer?.close(resolve));
  await sandbox?.close();
});

async function gateway(env: Record<string, string>): Promise<Tributary> {
  return startTributary({ env: { NODE_ENV: 'test', LOG_LEVEL: 'silent', ...env }, baseUrls: { ...sandbox.urls, reviews: reviewsUrl }, port: 0, host: '127.0.0.1' });
}

const QUERY = '{ product(id: "1") { id title reviews(first: 1) { rating comment } } }';

describe('a value the schema cannot represent', () => {
  it('enforce mode: an Int past 32 bits is refused at the connector, naming upstream, endpoint and pointer, never the value', async () => {
    review = { rating: 99_999_999_999 };
    const t = await gateway({});
    try {
      for (let i = 0; i < 2; i++) {
        const r = await post(t.url, { query: QUERY });
        expect(r.text).not.toContain('99999999999');
        expect(r.body.data.product).toMatchObject({ id: '1', reviews: null });
        expect(r.body.errors).toHaveLength(1);
        expect(r.body.errors[0].extensions).toMatchObject({ code: 'UPSTREAM_CONTRACT_VIOLATION', upstream: 'reviews', endpoint: 'reviewsByProductId', path: '/reviews/0/rating' });
      }
    } finally {
      await t.close();
    }
  });

  describe.each([
    { jit: 'on', label: 'graphql-jit' },
    { jit: 'off', label: 'the reference executor' },
  ])('report mode, $label', ({ jit }) => {
    let t: Tributary;
    beforeAll(async () => {
      t = await gateway({ UPSTREAM_REVIEWS_CONTRACT: 'report', GRAPHQL_JIT: jit, CACHE: 'on' });
    });
    afterAll(async () => {
      await t?.close();
    });

    it.each([
      { what: 'an Int past 32 bits', value: { rating: 99_999_999_999 }, field: 'rating', type: 'Int', secret: '99999999999' },
      { what: 'an object in a String field', value: { comment: { internalNote: 'do-not-show', ssn: '123-45-6789' } }, field: 'comment', type: 'String', secret: 'do-not-show' },
    ])('$what: UPSTREAM_CONTRACT_VIOLATION naming reviews, its endpoint and the pointer; fresh, then from the cache, on both paths', async ({ value, field, type, secret }) => {
      review = value;
      await t.connector.invalidate({ upstream: "reviews" });
      const before = requests.length;
      // The first request goes through yoga and calls the upstream; the second (the same document) is
      // served by the direct path, from the cache.
      for (let i = 0; i < 2; i++) {
        const r = await post(t.url, { query: QUERY });
        expect(r.text).not.toContain(secret);
        expect(r.text).not.toContain('ssn');
        expect(r.body.data.product.id).toBe('1');
        const err = r.body.errors.find((e: any) => e.path?.at(-1) === field);
        expect(err, r.text).toBeDefined();
        expect(err.extensions, JSON.stringify(err)).toMatchObject({ code: 'UPSTREAM_CONTRACT_VIOLATION', upstream: 'reviews', endpoint: 'reviewsByProductId', path: `/reviews/0/${field}` });
        expect(err.extensions.requestId).toBe(r.headers.get('x-request-id'));
        expect(err.message).toBe(`Upstream "reviews" answered "reviewsByProductId" with a value the schema's ${type} cannot represent (contract broken at /reviews/0/${field}).`);
      }
      expect(requests.length - before).toBe(1);

      // Deferred: the incremental part's error is the same violation, the value never shown.
      const res = await fetch(`${t.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'multipart/mixed; deferSpec=20220824' },
        body: JSON.stringify({ query: '{ product(id: "1") { id ... @defer { reviews(first: 1) { rating comment } } } }' }),
      });
      const text = await res.text();
      expect(text).not.toContain(secret);
      expect(text).not.toContain('ssn');
      const late = JSON.parse(text.slice(text.indexOf('{"incremental"'), text.lastIndexOf('}') + 1));
      const err = late.incremental[0].errors.find((e: any) => e.path?.at(-1) === field);
      expect(err.extensions).toMatchObject({ code: 'UPSTREAM_CONTRACT_VIOLATION', upstream: 'reviews', endpoint: 'reviewsByProductId', path: `/reviews/0/${field}`, requestId: res.headers.get('x-request-id') });
    });
  });

  it('recognises the leaf failures of graphql-js and graphql-jit, and holds unbounded integers to 32 bits', () => {
    expect(['Int cannot represent non 32-bit signed integer value: 1e11', 'String cannot represent value: { a: 1 }', 'Enum "StockStatus" cannot represent value: "X"', 'Expected a value of type "Float" but received: x'].map(leafFailureType)).toEqual(['Int', 'String', 'StockStatus', 'Float']);
    expect(leafFailureType('Upstream "x" is unavailable.')).toBeUndefined();
    const s = int32Integers({ type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer', minimum: 0 }, c: { type: 'array', items: { type: 'integer' } } } });
    expect(s.properties.a).toEqual({ type: 'integer', minimum: -2_147_483_648, maximum: 2_147_483_647 });
    expect(s.properties.b).toEqual({ type: 'integer', minimum: 0 });
    expect(s.properties.c.items).toEqual({ type: 'integer', minimum: -2_147_483_648, maximum: 2_147_483_647 });
  });

  it('a leaf failure no upstream explains (a resolver bug) is "Unexpected error.", the value still never shown', () => {
    const leaves = new LeafContract(new Telemetry());
    const state = { requestId: 'r1', errorCodes: ['UPSTREAM_CONTRACT_VIOLATION'], scope: { attempts: [], cacheEvents: [] } } as unknown as RequestState;
    const masked = leafFailure('Int', undefined, ['x']);
    const out = leaves.result(state, { data: { x: null }, errors: [new GraphQLError(masked.message, { path: masked.path, extensions: { ...masked.extensions, requestId: 'r1' } })] });
    expect(out.errors?.map((e) => [e.message, e.extensions])).toEqual([['Unexpected error.', { code: 'INTERNAL_SERVER_ERROR', requestId: 'r1' }]]);
    expect(state.errorCodes).toEqual(['INTERNAL_SERVER_ERROR']);
    leaves.close();
  });
});
