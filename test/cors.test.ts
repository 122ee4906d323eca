/**
 * CORS for browser apps on other origins (CORS_ORIGINS), through real HTTP: a listed origin's
 * preflight and POST are allowed (no credentials, the request id exposed), an unlisted one is not,
 * production answers no CORS headers until origins are named, and a malformed list fails start-up.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREDENTIAL_ENV, DEFAULT_SANDBOX_CREDENTIALS, startSandbox, type Sandbox } from '../sandbox/index.js';
import { startTributary, type Tributary } from '../src/main.js';
import { loadConfig } from '../src/config.js';

const SHOP = 'https://shop.example';
const MOBILE_WEB = 'https://m.shop.example';
const QUERY = JSON.stringify({ query: '{ product(id: "1") { id } }' });

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
    const gw = await gateway({ CORS_ORIGINS: `${SHOP}, ${MOBILE_WEB}` });
    const pre = await preflight(gw.url, MOBILE_WEB);
    expect(pre.status).toBeLessThan(300);
    expect(pre.headers.get('access-control-allow-origin')).toBe(MOBILE_WEB);
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
    expect(pre.headers.get('vary')).toContain('Origin');

    const res = await fetch(`${gw.url}/graphql`, { method: 'POST', headers: { origin: SHOP, 'content-type': 'application/json' }, body: QUERY });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { product: { id: string } } }).data.product.id).toBe('1');
    expect(res.headers.get('access-control-allow-origin')).toBe(SHOP);
    expect(res.headers.get('access-control-expose-headers')).toContain('x-request-id');

    const evil = await preflight(gw.url, 'https://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBe('null');
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
