/**
 * CORS for browser apps on other origins (CORS_ORIGINS), through real HTTP: a listed origin's
 * preflight (never identified or rate-counted) and POST are allowed, refusals included (no
 * credentials, the request id and Retry-After exposed); an unlisted one, `null` included, is not;
 * production answers no CORS headers until origins are named, and a malformed list fails start-up.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { hashApiKey } from '../src/security/index.js';
import { post as postGql, startStack, type Stack } from './support/stack.js';

const SHOP = 'https://shop.example';
const MOBILE_WEB = 'https://m.shop.example';
const QUERY = { query: '{ product(id: "1") { id } }' };
const KEY = 'web-key-for-cors-tests-0123456789';
const CLIENTS = JSON.stringify([{ name: 'web', keySha256: hashApiKey(KEY), permissions: [], operations: 'any', rateLimit: { requests: 2, perSeconds: 3600 } }]);

describe('CORS', () => {
  const stacks: Stack[] = [];
  /** A production gateway over its own sandbox (the stack gives it the sandbox's URLs and credentials). */
  async function gateway(extra: Record<string, string>): Promise<Stack> {
    const stack = await startStack({ env: { NODE_ENV: 'production', JWT_SECRET: 'production-test-secret-0123456789abcdef', LOG_LEVEL: 'warn', ...extra } });
    stacks.push(stack);
    return stack;
  }
  const preflight = (url: string, origin: string) =>
    fetch(`${url}/graphql`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
    });

  afterAll(async () => {
    for (const s of stacks) await s.close();
  });

  it('allows the listed origins, without credentials, and lets the app read the request id', async () => {
    // API clients configured: a preflight carries no key, and must still be answered (never identified).
    const gw = await gateway({ CORS_ORIGINS: `${SHOP}, ${MOBILE_WEB}`, CLIENTS });
    const pre = await preflight(gw.url, MOBILE_WEB);
    expect(pre.status).toBeLessThan(300);
    expect(pre.headers.get('access-control-allow-origin')).toBe(MOBILE_WEB);
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
    expect(pre.headers.get('vary')).toContain('Origin');

    const post = (origin: string, key?: string) => postGql(gw.url, QUERY, { origin, ...(key ? { 'x-api-key': key } : {}) });
    const res = await post(SHOP, KEY);
    expect(res.status).toBe(200);
    expect(res.body.data.product.id).toBe('1');
    expect(res.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(res.headers.get('access-control-expose-headers')).toContain('x-request-id');

    // Refusals before GraphQL are readable by the app too: 401 without a key, 429 with Retry-After.
    const unauthenticated = await post(SHOP);
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect((await post(SHOP, KEY)).status).toBe(200); // the 2nd of 2 allowed
    const limited = await post(MOBILE_WEB, KEY);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('access-control-allow-origin')).toBe(MOBILE_WEB);
    expect(limited.headers.get('access-control-expose-headers')).toContain('retry-after');

    // Any other origin, the opaque `null` of sandboxed frames and data: pages included, gets no CORS headers.
    for (const origin of ['https://evil.example', 'null']) {
      const other = await preflight(gw.url, origin);
      expect(other.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect((await post(origin)).headers.get('access-control-allow-origin'), origin).toBeNull();
    }
  });

  it('answers no CORS headers in production until origins are named', async () => {
    const gw = await gateway({});
    const pre = await preflight(gw.url, SHOP);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const res = await postGql(gw.url, QUERY, { origin: SHOP });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('reads the setting in one place: any origin in development, a malformed origin refused by name', () => {
    expect(loadConfig({}).corsOrigins).toBe('*');
    expect(loadConfig({ CORS_ORIGINS: 'off' }).corsOrigins).toBeNull();
    expect(loadConfig({ CORS_ORIGINS: `${SHOP},${MOBILE_WEB}` }).corsOrigins).toEqual([SHOP, MOBILE_WEB]);
    expect(() => loadConfig({ CORS_ORIGINS: 'shop.example' })).toThrow(/CORS_ORIGINS.*"shop\.example"/);
    expect(() => loadConfig({ CORS_ORIGINS: `${SHOP}/app` })).toThrow(/CORS_ORIGINS/);
  });
});
