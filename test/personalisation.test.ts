/**
 * Identity and personalised data: a list fetched for one user is never served to another user or to
 * an anonymous request, with the cache on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS } from '../src/config.js';
import { signUserToken } from '../src/identity.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { CACHE: 'on' } });
});
afterAll(async () => {
  await stack?.close();
});

async function upstreamList(productId: string, userId?: string): Promise<string[]> {
  const q = new URLSearchParams({ productId, limit: '4', ...(userId ? { userId } : {}) });
  const res = await fetch(`${stack.sandbox.urls.recommendations}/recommendations?${q}`, {
    headers: { 'x-api-key': stack.credentials.recommendationsApiKey! },
  });
  const body = (await res.json()) as { productIds: number[] };
  return body.productIds.map(String);
}

describe('personalised recommendations', () => {
  it('are each user\'s own, every time, interleaved, with the cache on', async () => {
    const token1 = await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '1');
    const token2 = await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '2');
    const who = [
      { name: 'user 1', headers: { authorization: `Bearer ${token1}` }, userId: '1' },
      { name: 'user 2', headers: { authorization: `Bearer ${token2}` }, userId: '2' },
      { name: 'anonymous', headers: {} as Record<string, string>, userId: undefined },
    ];
    for (const productId of ['1', '2', '3']) {
      const expected = await Promise.all(who.map((w) => upstreamList(productId, w.userId)));
      // The rule must tell the three apart, or this test would prove nothing.
      expect(new Set(expected.map((e) => e.join(','))).size).toBe(3);
      for (let round = 0; round < 3; round++) {
        const answers = await Promise.all(
          who.map((w) => stack.gql(OPERATIONS.ProductPage, { id: productId, country: 'US', postcode: '10001' }, w.headers)),
        );
        answers.forEach((a, i) => {
          expect(a.body.errors).toBeUndefined();
          expect(a.body.data.product.recommendations.map((p: { id: string }) => p.id)).toEqual(expected[i]);
        });
      }
    }
    // The cache was used: after the first round, recommendations were not asked again per user.
    const calls = stack.sandbox.upstream('recommendations').stats().requests.filter((r) => r.path.startsWith('/recommendations'));
    // 3 products × 3 identities through the gateway + 9 direct expectation calls.
    expect(calls.length).toBe(9 + 9);
  });

  it('viewer is the signed-in user\'s own profile, and null for anonymous requests', async () => {
    const token = await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '2');
    const r = await stack.gql(OPERATIONS.Viewer, {}, { authorization: `Bearer ${token}` });
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.viewer.id).toBe('2');
    expect(r.body.data.viewer.email).toBeTruthy();
    expect(r.text).not.toMatch(/password|ssn|iban|cardNumber|macAddress|walletAddress/i);
    const anon = await stack.gql(OPERATIONS.Viewer, {});
    expect(anon.body).toEqual({ data: { viewer: null } });
  });
});
