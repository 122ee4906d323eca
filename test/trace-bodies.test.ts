/**
 * Debug trace bodies are masked by allow-list (issue 17): only the fields an endpoint's mapping reads
 * keep their values, and no upstream URL is ever shown. Against a real sandbox and gateway at debug
 * level, with the trace asked for in `extensions.trace`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstreams } from '../upstreams/index.js';
import type { AnyEndpointDef } from '../src/connector/index.js';
import { signUserToken } from '../src/identity.js';
import { allowListed, fieldsRead, MASKED } from '../src/observability/body-allow-list.js';
import type { Trace } from '../src/observability/index.js';
import { users } from './support/expected.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

const JWT_SECRET = 'trace-bodies-secret-0123456789abcdef0123';
let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { LOG_LEVEL: 'debug', TRACE_BODIES: 'on', JWT_SECRET } });
});
afterAll(async () => {
  await stack?.close();
});

const traced = async (query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<Trace> => {
  const r = await stack.gql(query, variables, { 'x-tributary-trace': '1', ...headers });
  expect(r.body.errors).toBeUndefined();
  return r.body.extensions.trace as Trace;
};

describe('debug trace bodies: allow-list', () => {
  it("accounts: the fields its mapping does not read are masked (username, ein, bloodGroup, company, university, userAgent), the ones it reads shown", async () => {
    const token = await signUserToken(JWT_SECRET, '1');
    const t = await traced(OPERATIONS.Viewer, {}, { authorization: `Bearer ${token}` });
    const call = t.calls.find((c) => c.upstream === 'accounts' && c.status === 200);
    expect(call?.body).toBeDefined();
    const body = call!.body as Record<string, unknown>;
    const user = users.find((u) => u.id === 1)!;
    for (const f of ['username', 'ein', 'bloodGroup', 'company', 'university', 'userAgent', 'password', 'ssn', 'bank', 'crypto', 'ip', 'macAddress', 'maidenName', 'hair', 'image']) {
      expect(user[f], `${f} is in the upstream's answer`).toBeDefined();
      expect(body[f], f).toBe(MASKED);
    }
    expect(body.firstName).toBe(user.firstName);
    expect(body.lastName).toBe(user.lastName);
    expect(body.id).toBe(user.id);
    // Read by the mapping, but declared sensitive: still masked.
    expect(body.email).toBe(MASKED);
  });

  it('catalog: no upstream URL in any body (the categories carry their upstream links)', async () => {
    const t = await traced('{ categories { slug name } product(id: "1") { id title thumbnail } }');
    const categories = t.calls.find((c) => c.upstream === 'catalog' && c.endpoint === 'categories');
    expect(categories?.body).toBeDefined();
    const list = categories!.body as Record<string, unknown>[];
    expect(list.length).toBeGreaterThan(0);
    expect(list[0]!.slug).toBeTypeOf('string');
    expect(list[0]!.url).toBe(MASKED);
    const text = JSON.stringify(t.calls.map((c) => c.body));
    for (const origin of Object.values(stack.sandbox.urls)) expect(text).not.toContain(new URL(origin).host);
    expect(text).not.toMatch(/https?:\/\//);
  });

  it('derived from the definitions: a batch endpoint shows what items, itemKey and map read, masks an added field', () => {
    const reviews = upstreams.reviews.endpoints.reviewsByProductId as AnyEndpointDef;
    const body = { reviews: [{ productId: 1, rating: 5, comment: 'ok', date: 'd', reviewerName: 'n', reviewerEmail: 'e@x', internalNote: 'secret' }] };
    expect(allowListed(reviews, body)).toEqual({ reviews: [{ productId: 1, rating: 5, comment: 'ok', date: 'd', reviewerName: 'n', reviewerEmail: MASKED, internalNote: MASKED }] });
    expect([...fieldsRead(reviews, body)].filter((p) => !p.endsWith('/length')).sort()).toEqual(
      ['/reviews', '/reviews/0', '/reviews/0/comment', '/reviews/0/date', '/reviews/0/productId', '/reviews/0/rating', '/reviews/0/reviewerName'].sort(),
    );
    // Unknown endpoint: nothing shown.
    expect(allowListed(undefined, body)).toBe(MASKED);
  });
});
