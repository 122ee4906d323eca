/**
 * Credential rotation without restart, against the real sandbox: while 1,000 ProductPage queries run,
 * the sandbox's pricing token and the gateway's secret file change, and the shipping OAuth2 token
 * expires (the sandbox's clock jumps past its lifetime). Zero queries fail or lose their price.
 * Also: a changed secret file is picked up by the watcher, and SIGHUP forgets every credential.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttemptEvent } from '../src/connector/index.js';
import { sandboxUpstreamNames } from '../sandbox/index.js';
import { DEFINED_UPSTREAMS } from './support/definitions.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';
import { eventually } from './support/wait.js';

const TTL_S = 300;
let clock = Date.now();
let stack: Stack;
let secretFile: string;
const attempts: AttemptEvent[] = [];

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-secrets-'));
  secretFile = join(dir, 'pricing-token');
  writeFileSync(secretFile, 'rotation-pricing-v1\n');
  stack = await startStack({
    sandbox: { now: () => clock, shippingTokenTtlS: TTL_S, credentials: { pricingToken: 'rotation-pricing-v1' }, latencyMs: { ...Object.fromEntries(sandboxUpstreamNames().map((n) => [n, 2])), pricing: 5, shipping: 5 } },
    // No cache: every query calls pricing and shipping, so every query meets the rotation.
    env: { CACHE: 'off', PRICING_TOKEN_FILE: secretFile },
  });
  stack.gateway.telemetry.on('attempt', (e) => attempts.push(e));
});
afterAll(async () => {
  await stack?.close();
});

describe('rotation under load', () => {
  it('1,000 ProductPage queries: pricing token + secret file rotate, OAuth2 token expires; zero failures, zero lost prices', async () => {
    attempts.length = 0;
    const TOTAL = 1_000;
    const CONCURRENCY = 25;
    let next = 0;
    const results: { id: string; errors: unknown; price: unknown; shipping: unknown }[] = [];
    let rotatedAt = -1;
    let expiredAt = -1;
    const worker = async (): Promise<void> => {
      while (next < TOTAL) {
        const i = next++;
        if (i === 300) {
          // The upstream and the mounted secret change together (the sandbox refuses the old token at once).
          stack.sandbox.upstream('pricing').setCredentials({ pricingToken: 'rotation-pricing-v2' });
          writeFileSync(secretFile, 'rotation-pricing-v2\n');
          rotatedAt = i;
        }
        if (i === 600) {
          // The OAuth2 token the gateway holds expires on the upstream's clock.
          clock += (TTL_S + 1) * 1000;
          expiredAt = i;
        }
        const id = String((i % 30) + 1);
        const r = await stack.gql(OPERATIONS.ProductPage, { id, country: 'US', postcode: '10001' });
        results.push({ id, errors: r.body.errors, price: r.body.data?.product?.price, shipping: r.body.data?.product?.shippingEstimate });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    expect([rotatedAt, expiredAt]).toEqual([300, 600]);
    expect(results).toHaveLength(TOTAL);
    expect(results.filter((r) => r.errors !== undefined)).toEqual([]);
    expect(results.filter((r) => !r.price)).toEqual([]);
    expect(results.filter((r) => !r.shipping)).toEqual([]);

    // The rotation really hit calls in flight: some pricing and shipping attempts were refused (401)
    // and each was retried once with a fresh credential.
    const refused = (u: string) => attempts.filter((a) => a.upstream === u && a.status === 401).length;
    expect(refused('pricing')).toBeGreaterThan(0);
    expect(refused('shipping')).toBeGreaterThan(0);
    // Every refused call was followed by a success: the number of failed queries is 0 (above), and
    // no attempt ended in UPSTREAM_UNAUTHORIZED after its retry.
    const sentTokens = new Set(stack.sandbox.upstream('pricing').stats().requests.map((r) => r.headers.authorization));
    expect(sentTokens.has('Bearer rotation-pricing-v2')).toBe(true);
    // Exactly one new OAuth2 token after the expiry, however many calls were refused at once: the
    // first refused call refreshes, the others share its fetch or see the new token.
    const tokenFetches = stack.sandbox.upstream('shipping').stats().counts['POST /oauth/token'] ?? 0;
    expect(tokenFetches).toBe(2);
  }, 120_000);

  it('a changed secret file is picked up by the watcher, without a 401', async () => {
    const refreshes = () => stack.logs.filter((l) => l.msg === 'credentials refreshed' && l.reason === 'file');
    const seen = refreshes().length;
    // Upstream first this time, then the file; the watcher refreshes the credential on its own.
    stack.sandbox.upstream('pricing').setCredentials({ pricingToken: 'rotation-pricing-v3' });
    writeFileSync(secretFile, 'rotation-pricing-v3\n');
    await eventually(() => refreshes().length > seen, 'the watcher');
    const line = refreshes().at(-1)!;
    expect(line.variables).toEqual(['PRICING_TOKEN_FILE']);
    expect(line.upstreams).toEqual(['pricing']);
    expect(stack.logText()).not.toContain('rotation-pricing-v3');
    attempts.length = 0;
    const r = await stack.gql(OPERATIONS.ProductPage, { id: '3', country: 'US', postcode: '10001' });
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.product.price).not.toBeNull();
    const pricing = attempts.filter((a) => a.upstream === 'pricing').map((a) => a.status);
    expect(pricing.length).toBeGreaterThan(0);
    expect(pricing.filter((s) => s !== 200)).toEqual([]);
  });

  it('SIGHUP forgets every upstream credential (the next OAuth2 call fetches a new token)', async () => {
    const before = stack.sandbox.upstream('shipping').stats().counts['POST /oauth/token'] ?? 0;
    process.kill(process.pid, 'SIGHUP');
    await eventually(() => stack.logs.some((l) => l.msg === 'credentials refreshed' && l.reason === 'signal'), 'SIGHUP');
    const line = stack.logs.find((l) => l.msg === 'credentials refreshed' && l.reason === 'signal')!;
    expect(line.upstreams).toEqual([...DEFINED_UPSTREAMS].sort());
    const r = await stack.gql(OPERATIONS.ProductPage, { id: '4', country: 'US', postcode: '10001' });
    expect(r.body.errors).toBeUndefined();
    expect((stack.sandbox.upstream('shipping').stats().counts['POST /oauth/token'] ?? 0) - before).toBe(1);
  });
});
