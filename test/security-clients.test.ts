/**
 * API clients: keys hashed at rest, 401 for missing/unknown keys, per-client rate limits, and field
 * access by `@pii`: a client without the `pii` permission gets null + FORBIDDEN and the upstream is not
 * called for those fields; a client with it gets the signed-in user's own profile.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS } from '../src/config.js';
import { signUserToken } from '../src/identity.js';
import { describeClients, hashApiKey, loadClients } from '../src/security/index.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

const KEYS = { web: 'web-key-0123456789', partner: 'partner-key-0123456789', limited: 'limited-key-0123456789' };
const CLIENTS = JSON.stringify([
  { name: 'web', keySha256: hashApiKey(KEYS.web), permissions: ['pii', 'trace'], operations: 'any' },
  { name: 'partner', keySha256: hashApiKey(KEYS.partner), permissions: [], operations: 'any' },
  { name: 'limited', keySha256: hashApiKey(KEYS.limited), permissions: [], rateLimit: { requests: 3, perSeconds: 3600 } },
]);

describe('client configuration', () => {
  it('reads CLIENTS and CLIENTS_FILE, and describes clients without key material', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clients-'));
    const file = join(dir, 'clients.json');
    writeFileSync(file, JSON.stringify({ mobile: { keySha256: hashApiKey('m'), permissions: ['pii'], operations: 'persisted' } }));
    const rows = describeClients({ CLIENTS, CLIENTS_FILE: file });
    expect(rows.map((r) => r.name)).toEqual(['limited', 'mobile', 'partner', 'web']);
    expect(rows.find((r) => r.name === 'mobile')).toEqual({ name: 'mobile', permissions: ['pii'], pii: true, write: false, operations: 'persisted', persistedOnly: true, rateLimit: null });
    expect(rows.find((r) => r.name === 'web')!.permissions).toEqual(['pii', 'trace']);
    expect(JSON.stringify(rows)).not.toContain(hashApiKey(KEYS.web));
  });

  it('refuses clear-text keys, bad hashes, unknown permissions, duplicates, with a message naming the client', () => {
    expect(() => loadClients({ CLIENTS: '[{"name":"a","key":"secret"}]' })).toThrow(/client "a".*keySha256/);
    expect(() => loadClients({ CLIENTS: '[{"name":"a","keySha256":"abc"}]' })).toThrow(/client "a" needs "keySha256"/);
    expect(() => loadClients({ CLIENTS: JSON.stringify([{ name: 'a', keySha256: hashApiKey('x'), permissions: ['root'] }]) })).toThrow(/unknown permission "root"/);
    expect(() => loadClients({ CLIENTS: JSON.stringify([{ name: 'a', keySha256: hashApiKey('x') }, { name: 'b', keySha256: hashApiKey('x') }]) })).toThrow(/shares its API key/);
    expect(() => loadClients({ CLIENTS: '{not json' })).toThrow(/CLIENTS is not valid JSON/);
    expect(() => loadClients({ CLIENTS_FILE: '/nonexistent/clients.json' })).toThrow(/CLIENTS_FILE/);
  });

  it('matches a key by its hash, and counts a rate limit per window', () => {
    let t = 0;
    const reg = loadClients({ CLIENTS }, () => t);
    expect(reg.match(KEYS.web)?.name).toBe('web');
    expect(reg.match('web-key-012345678')).toBeNull();
    const outcomes = [1, 2, 3, 4].map(() => reg.identify(KEYS.limited));
    expect(outcomes.map((o) => (o && 'status' in o ? o.status : 'ok'))).toEqual(['ok', 'ok', 'ok', 429]);
    t += 3_600_000;
    const again = reg.identify(KEYS.limited);
    expect(again && 'name' in again ? again.name : again).toBe('limited');
  });
});

describe('clients at the gateway', () => {
  let stack: Stack;
  let token: string;
  beforeAll(async () => {
    stack = await startStack({ env: { CLIENTS } });
    token = await signUserToken(CONFIG_DEFAULTS.devJwtSecret, '2');
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('refuses a missing or unknown API key with 401 and calls no upstream', async () => {
    stack.resetStats();
    const none = await stack.gql('{ apiVersion }');
    const wrong = await stack.gql('{ apiVersion }', {}, { 'x-api-key': 'nope' });
    expect([none.status, wrong.status]).toEqual([401, 401]);
    expect(none.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(wrong.body.errors[0].message).toBe('The API key is not valid.');
    const total = Object.values(stack.sandbox.upstreams).reduce((n, u) => n + u.stats().total, 0);
    expect(total).toBe(0);
  });

  it('answers 429 with Retry-After once a client is over its rate limit', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const r = await stack.gql('{ apiVersion }', {}, { 'x-api-key': KEYS.limited });
      statuses.push(r.status);
      if (r.status === 429) {
        retryAfter = r.headers.get('retry-after');
        expect(r.body.errors[0].extensions.code).toBe('RATE_LIMITED');
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });

  it('a client with `pii` gets the signed-in user\'s own profile', async () => {
    const r = await stack.gql(OPERATIONS.Viewer, {}, { 'x-api-key': KEYS.web, authorization: `Bearer ${token}` });
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.viewer.id).toBe('2');
    expect(typeof r.body.data.viewer.email).toBe('string');
  });

  it('a client without `pii` gets null + FORBIDDEN on @pii fields, and accounts is not called', async () => {
    stack.resetStats();
    const r = await stack.gql(OPERATIONS.Viewer, {}, { 'x-api-key': KEYS.partner, authorization: `Bearer ${token}` });
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ viewer: null });
    expect(r.body.errors).toHaveLength(1);
    expect(r.body.errors[0].extensions.code).toBe('FORBIDDEN');
    expect(r.body.errors[0].path).toEqual(['viewer']);
    expect(stack.sandbox.upstream('accounts').stats().total).toBe(0);
    // The same client still reads non-personal fields.
    const p = await stack.gql(OPERATIONS.ProductPage, { id: '1', country: 'US', postcode: '10001' }, { 'x-api-key': KEYS.partner });
    expect(p.body.errors).toBeUndefined();
    expect(p.body.data.product.price).not.toBeNull();
    expect(stack.sandbox.upstream('accounts').stats().total).toBe(0);
  });
});

describe('rate limits shared through Redis', () => {
  const SHARED = JSON.stringify([{ name: 'limited', keySha256: hashApiKey(KEYS.limited), permissions: [], rateLimit: { requests: 10, perSeconds: 3600 } }]);
  const stacks: Stack[] = [];
  afterAll(async () => {
    for (const s of stacks) await s.close();
  });
  const ask = (s: Stack) => s.gql('{ product(id: "1") { id } }', {}, { 'x-api-key': KEYS.limited });

  it('two gateways on one Redis admit the client its limit once, not once each', async () => {
    const namespace = `rl-test-${randomUUID()}`;
    const env = { CLIENTS: SHARED, REDIS_URL: 'redis://127.0.0.1:6379', CACHE_NAMESPACE: namespace };
    const a = await startStack({ env });
    const b = await startStack({ env });
    stacks.push(a, b);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await ask(a)).status);
    for (let i = 0; i < 6; i++) statuses.push((await ask(b)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 429, 429]);
    const refused = await ask(a);
    expect(refused.status).toBe(429);
    expect(refused.body.errors[0].extensions.code).toBe('RATE_LIMITED');
    // Retry-After: what is left of the window, from Redis
    const retry = Number(refused.headers.get('retry-after'));
    expect(retry).toBeGreaterThan(3500);
    expect(retry).toBeLessThanOrEqual(3600);
  });

  it('with Redis unreachable, each gateway still enforces the limit itself, and keeps answering', async () => {
    const s = await startStack({ env: { CLIENTS: SHARED, REDIS_URL: 'redis://127.0.0.1:1', CACHE: 'off' } });
    stacks.push(s);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await ask(s)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 429, 429]);
  });
});
