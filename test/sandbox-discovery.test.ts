/**
 * The sandbox's upstreams are discovered from `sandbox/upstreams/<name>.ts`, one file each: names,
 * ports, latencies, credentials and challenges come from their descriptors; a name with no sandbox
 * counterpart is not an error for callers that pass lists derived from the definitions.
 */
import { readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CREDENTIAL_ENV,
  DEFAULT_LATENCY_MS,
  DEFAULT_SANDBOX_CREDENTIALS,
  defineSandboxUpstream,
  hasSandboxUpstream,
  SANDBOX_UPSTREAMS,
  sandboxCredentialsFromEnv,
  sandboxOptionsFromEnv,
  sandboxUpstreamNames,
  startSandbox,
  type Sandbox,
} from '../sandbox/index.js';
import { DEFINED_UPSTREAMS } from './support/definitions.js';

const started: Sandbox[] = [];
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

describe('discovery', () => {
  it('finds one upstream per file of sandbox/upstreams, in port order', () => {
    const files = readdirSync(new URL('../sandbox/upstreams/', import.meta.url)).filter((f) => /^[a-z][a-z0-9-]*\.ts$/.test(f)).map((f) => f.replace(/\.ts$/, ''));
    expect([...sandboxUpstreamNames()].sort()).toEqual(files.sort());
    const offsets = SANDBOX_UPSTREAMS.map((d) => d.portOffset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(new Set(offsets).size).toBe(offsets.length);
    // The port layout the shop has always had (base + 1 .. base + 10).
    expect(Object.fromEntries(SANDBOX_UPSTREAMS.map((d) => [d.name, d.portOffset]))).toMatchObject({
      catalog: 1, pricing: 2, inventory: 3, reviews: 4, recommendations: 5, shipping: 6, tax: 7, accounts: 8, payments: 9, orders: 10,
    });
    expect(DEFAULT_LATENCY_MS).toMatchObject({ payments: 40, orders: 20, recommendations: 60 });
  });

  it('every defined upstream of the shop has a sandbox counterpart', () => {
    expect(DEFINED_UPSTREAMS.filter((n) => !hasSandboxUpstream(n))).toEqual([]);
  });

  it('credentials, their variables and defaults come from the descriptors, keys unique', () => {
    const keys = SANDBOX_UPSTREAMS.flatMap((d) => Object.keys(d.credentials));
    expect(Object.keys(CREDENTIAL_ENV).sort()).toEqual([...keys].sort());
    expect(CREDENTIAL_ENV).toMatchObject({ paymentsSecretKey: 'PAYMENTS_SECRET_KEY', ordersApiKey: 'ORDERS_API_KEY' });
    expect(DEFAULT_SANDBOX_CREDENTIALS).toMatchObject({ paymentsSecretKey: 'sandbox-payments-secret', ordersApiKey: 'sandbox-orders-key' });
    expect(sandboxCredentialsFromEnv({ PAYMENTS_SECRET_KEY: 'sk', ORDERS_API_KEY: '' })).toMatchObject({ paymentsSecretKey: 'sk', ordersApiKey: 'sandbox-orders-key' });
    // Every upstream with a credential says how a 401 challenges.
    expect(SANDBOX_UPSTREAMS.filter((d) => Object.keys(d.credentials).length > 0 && !d.challenge).map((d) => d.name)).toEqual([]);
  });

  it('reads each upstream\'s own settings and faults from the environment by its name', () => {
    const o = sandboxOptionsFromEnv({ SANDBOX_PAYMENTS_LATENCY_MS: '3', SANDBOX_ORDERS_FAULTS: '{"error":{"probability":1,"status":500},"routes":["POST /orders"]}', SANDBOX_SHIPPING_TOKEN_TTL_S: '9' });
    expect(o.latencyMs).toEqual({ payments: 3 });
    expect(o.faults).toEqual({ orders: { error: { probability: 1, status: 500 }, routes: ['POST /orders'] } });
    expect(o.shippingTokenTtlS).toBe(9);
    expect(() => sandboxOptionsFromEnv({ SANDBOX_ORDERS_FAULTS: '{"routes":["POST /nope"]}' })).toThrow(/SANDBOX_ORDERS_FAULTS: unknown route 'POST \/nope'/);
  });

  it('a descriptor with a bad shape is refused, saying what is wrong', () => {
    const base = { name: 'x', portOffset: 11, latencyMs: 0, credentials: {}, openapi: () => ({ paths: {}, schemas: {} }), create: () => ({ routes: [], authorize: () => true }) };
    expect(() => defineSandboxUpstream({ ...base, name: 'Bad Name' })).toThrow(/got 'Bad Name'/);
    expect(() => defineSandboxUpstream({ ...base, portOffset: 0 })).toThrow(/portOffset/);
    expect(() => defineSandboxUpstream({ ...base, credentials: { k: { env: '', default: 'd' } } })).toThrow(/credential k/);
  });
});

describe('names without a sandbox counterpart', () => {
  it('are ignored in only, latencyMs and faults; asking the sandbox for one says which were started', async () => {
    const sb = await startSandbox({ portBase: 0, only: ['pricing', 'promotions'], latencyMs: { pricing: 0, promotions: 5 }, faults: { promotions: { down: true } } });
    started.push(sb);
    expect(Object.keys(sb.urls)).toEqual(['pricing']);
    expect(hasSandboxUpstream('promotions')).toBe(false);
    expect(() => sb.upstream('promotions')).toThrow("no sandbox upstream 'promotions' was started (started: pricing)");
    expect(sb.url('pricing')).toBe(sb.urls.pricing);
  });

  it('a fixed port base puts each upstream on base + its offset', async () => {
    // A random base in a range the OS does not hand out as ephemeral ports; another on a clash.
    let sb: Sandbox | undefined;
    let base = 0;
    for (let attempt = 0; !sb; attempt++) {
      base = 20000 + Math.floor(Math.random() * 10000);
      try {
        sb = await startSandbox({ portBase: base, only: ['catalog', 'orders'], latencyMs: { catalog: 0, orders: 0 } });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 5) throw err;
      }
    }
    started.push(sb);
    expect(sb.upstream('catalog').port).toBe(base + 1);
    expect(sb.upstream('orders').port).toBe(base + 10);
  });
});
