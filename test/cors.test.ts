/**
 * CORS for browser apps on other origins (CORS_ORIGINS), through real HTTP: a listed origin's
 * preflight (never identified or rate-counted) and POST are allowed, refusals included (no
 * credentials, the request id and Retry-After exposed); an unlisted one, `null` included, is not;
 * production answers no CORS headers until origins are named, and a malformed list fails start-up.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREDENTIAL_ENV, DEFAULT_SANDBOX_CREDENTIALS, startSandbox, type Sandbox } from '../sandbox/index.js';
import { startTributary, type Tributary } from '../src/main.js';
import { loadConfig } from '../src/config.js';
import { hashApiKey } from '../src/security/index.js';

const SHOP = 'https://shop.example';
const MOBILE_WEB = 'https://m.shop.example';
const QUERY = JSON.stringify({ query: '{ product(id: "1") { id } }' });
const KEY = 'web-key-for-cors-tests-0123456789';
const CLIENTS = JSON.stringify([{ name: 'web', keySha256: hashApiKey(KEY), permissions: [], operations: 'any', rateLimit: { requests: 2, perSeconds: 3600 } }]);

describe('CORS', () => {
  let sandbox: Sandbox;
  const gateways: Tributary[] = [];
  async function gateway(extra: Record<string, string>): Promise<Tributary> {
    const env: Record<string, string> = { NODE_ENV: 'production', JWT_SECRET: 'production-test-secret-0123456789abcdef', LOG_LEVEL: 'warn', ...extra };
    for (const [name, url] of Object.entries(sandbox.urls)) env[`UPSTREAM_${name.toUpperCase()}_URL`] = url;
    for (const [k, v] of Object.entries(CREDENTIAL_ENV)) env[v] = DEFAULT_SANDBOX_CREDENTIALS[k as keyof typeof DEFAULT_SANDBOX_CREDENTIALS];
    const gw = await startTributary({ env, port: 0, host: '127.0.0.1', logDestination: new Writable({ write: (_c, _e, cb) => cb() }) });
    gateways.push(gw);
    return gw;
  }
  const preflight = (url: string, origin: string) =>
    fetch(`${url}/graphql`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
    });

  beforeAll(async () => {
    sandbox = await startSandbox({ portBase: 0, seed: 1 });
  });
  afterAll(async () => {
    for (const gw of gateways) await gw.close();
    await sandbox?.close();
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

    const post = (origin: string, key?: string) =>
      fetch(`${gw.url}/graphql`, { method: 'POST', headers: { origin, 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) }, body: QUERY });
    const res = await post(SHOP, KEY);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { product: { id: string } } }).data.product.id).toBe('1');
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
    const res = await fetch(`${gw.url}/graphql`, { method: 'POST', headers: { origin: SHOP, 'content-type': 'application/json' }, body: QUERY });
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
