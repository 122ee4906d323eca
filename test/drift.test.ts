/**
 * Upstream drift at the hub: the sandbox's pricing upstream serves each drifted shape (CONTRACT
 * insulation, issue 7). ProductPage keeps every field that does not depend on pricing; the price
 * fields are null with UPSTREAM_CONTRACT_VIOLATION naming pricing and the JSON path of the first
 * mismatch (never the value). `report` mode passes what still maps. Real sandbox, real gateway.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { compileValidator } from '../src/connector/validation.js';
import pricing from '../upstreams/pricing.js';
import { anonymousRecommendations, byId, saleCents, usd } from './support/expected.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

const VARS = { id: '1', country: 'US', postcode: '10001' };
const RECS = anonymousRecommendations(1, 4);

interface Violation {
  readonly upstream: string;
  readonly endpoint: string;
  readonly path: string;
  readonly mode: string;
}

function expectedPrice(id: number) {
  const p = byId.get(String(id))!;
  return { sale: usd(saleCents(p)), list: usd(Math.round(p.price * 100)), discountPercentage: p.discountPercentage };
}

/** Everything ProductPage shows except prices, which must be equal to the drift-free answer. */
function withoutPrices(product: Record<string, any>) {
  const { price: _price, recommendations, ...rest } = product;
  return { ...rest, recommendations: (recommendations as any[]).map(({ price: _p, ...r }) => r) };
}

/** Contract violations, and the attempts (what the request's trace shows) that carried one. */
function listen(stack: Stack): Violation[] & { attempts: string[] } {
  const seen = Object.assign([] as Violation[], { attempts: [] as string[] });
  stack.gateway.telemetry.on('contractViolation', (e) => seen.push(e));
  stack.gateway.telemetry.on('attempt', (a) => {
    if (a.contractViolation) seen.attempts.push(`${a.upstream}.${a.endpoint} ${a.status} ${a.error ?? 'passed'} ${a.contractViolation}`);
  });
  return seen;
}

describe('pricing drift, enforce mode (the default)', () => {
  let stack: Stack;
  let violations: ReturnType<typeof listen>;
  let baseline: Record<string, any>;

  beforeAll(async () => {
    stack = await startStack({ env: { CACHE: 'off' } });
    violations = listen(stack);
    const r = await stack.gql(OPERATIONS.ProductPage, VARS);
    expect(r.body.errors).toBeUndefined();
    baseline = r.body.data.product;
    expect(baseline.price).toEqual(expectedPrice(1));
  });
  afterAll(async () => {
    await stack?.close();
  });
  beforeEach(() => {
    violations.length = 0;
    violations.attempts.length = 0;
    stack.sandbox.upstream('pricing').setFaults(null);
  });

  const cases = [
    { kind: 'rename', path: '/prices/0/sale' },
    { kind: 'type', path: '/prices/0/list' },
    { kind: 'missing', path: '/prices/0/sale' },
  ] as const;

  for (const { kind, path } of cases) {
    it(`${kind}: unaffected fields intact, price fields null, one violation naming pricing and ${path}`, async () => {
      if (kind === 'missing') {
        // Over HTTP, as an operator would set it.
        const set = await fetch(`${stack.sandbox.urls.pricing}/__faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ drift: kind }) });
        expect(set.status).toBe(200);
      } else stack.sandbox.upstream('pricing').setFaults({ drift: kind });
      stack.resetStats();
      const r = await stack.gql(OPERATIONS.ProductPage, VARS);
      expect(r.status).toBe(200);
      const product = r.body.data.product;
      expect(withoutPrices(product)).toEqual(withoutPrices(baseline));
      expect(product.price).toBeNull();
      expect(product.recommendations.map((x: any) => x.price)).toEqual([null, null, null, null]);

      // One violation (pricing, pricesBySku, path) behind every price field that depends on it.
      const errors = r.body.errors as any[];
      expect(errors.map((e) => e.path.join('.'))).toEqual(['product.price', ...RECS.map((_, i) => `product.recommendations.${i}.price`)]);
      const distinct = new Set(errors.map((e) => JSON.stringify([e.extensions.code, e.extensions.upstream, e.extensions.endpoint, e.extensions.path])));
      expect([...distinct]).toEqual([JSON.stringify(['UPSTREAM_CONTRACT_VIOLATION', 'pricing', 'pricesBySku', path])]);
      // The message names the upstream and the path, never a value from the body.
      expect(errors[0].message).toBe(`Upstream "pricing" answered "pricesBySku" with a response that breaks its contract at ${path}.`);
      expect(r.text).not.toContain('"9.99"');
      expect(r.text).not.toContain('salePrice');

      // Counted once per drifted response (two pricing calls: the product, then its recommendations), and logged.
      const calls = stack.sandbox.upstream('pricing').stats().counts['GET /v1/prices'];
      expect(calls).toBe(2);
      expect([...violations]).toEqual(Array.from({ length: 2 }, () => ({ upstream: 'pricing', endpoint: 'pricesBySku', path, mode: 'enforce' })));
      expect(violations.attempts).toEqual(Array.from({ length: 2 }, () => `pricing.pricesBySku 200 UPSTREAM_CONTRACT_VIOLATION ${path}`));
      const failed = stack.logs.filter((l) => l.msg === 'upstream call failed' && l.code === 'UPSTREAM_CONTRACT_VIOLATION');
      expect(failed.length).toBeGreaterThanOrEqual(2);
      expect(failed.every((l) => l.upstream === 'pricing' && l.endpoint === 'pricesBySku')).toBe(true);
      // Each failure line names the GraphQL request it served (the response's x-request-id).
      const requestId = r.headers.get('x-request-id');
      expect(failed.filter((l) => l.requestId === requestId).length).toBe(2);
      // The request's log line (its trace summary) shows the failed pricing attempts.
      const line = stack.logs.filter((l) => l.msg === 'graphql request').at(-1) as any;
      expect(line.upstream['pricing.pricesBySku']).toBeDefined();
    });
  }

  it('extra: an added field is tolerated (tolerant reader): every field correct, no error', async () => {
    stack.sandbox.upstream('pricing').setFaults({ drift: 'extra' });
    const r = await stack.gql(OPERATIONS.ProductPage, VARS);
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.product).toEqual(baseline);
    expect([...violations]).toEqual([]);
  });
});

describe('validation is compiled once', () => {
  it('one checker per declared schema, reused by every call', () => {
    const schema = pricing.endpoints.pricesBySku.response;
    expect(compileValidator(schema)).toBe(compileValidator(schema));
    expect(compileValidator(schema)({ prices: [{ sku: 'A', currency: 'USD', list: 1, sale: '1', discountPercentage: 0 }] })).toBe('/prices/0/sale');
  });
});

describe('pricing drift, report mode (UPSTREAM_PRICING_CONTRACT=report)', () => {
  let stack: Stack;
  let violations: ReturnType<typeof listen>;

  beforeAll(async () => {
    stack = await startStack({ env: { CACHE: 'off', UPSTREAM_PRICING_CONTRACT: 'report' } });
    violations = listen(stack);
  });
  afterAll(async () => {
    await stack?.close();
  });
  beforeEach(() => {
    violations.length = 0;
    violations.attempts.length = 0;
  });

  it('type: numbers sent as strings still map: correct prices, no error; logged and counted', async () => {
    stack.sandbox.upstream('pricing').setFaults({ drift: 'type' });
    const r = await stack.gql(OPERATIONS.ProductPage, VARS);
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.product.price).toEqual(expectedPrice(1));
    expect(r.body.data.product.recommendations.map((x: any) => x.price)).toEqual(RECS.map((id) => ({ sale: expectedPrice(id).sale })));
    expect([...violations]).toEqual([
      { upstream: 'pricing', endpoint: 'pricesBySku', path: '/prices/0/list', mode: 'report' },
      { upstream: 'pricing', endpoint: 'pricesBySku', path: '/prices/0/list', mode: 'report' },
    ]);
    expect(violations.attempts).toEqual(Array.from({ length: 2 }, () => 'pricing.pricesBySku 200 passed /prices/0/list'));
    const logged = stack.logs.filter((l) => l.msg === 'upstream contract violation');
    expect(logged.map((l) => [l.upstream, l.endpoint, l.path, l.mode])).toEqual([
      ['pricing', 'pricesBySku', '/prices/0/list', 'report'],
      ['pricing', 'pricesBySku', '/prices/0/list', 'report'],
    ]);
  });

  it('rename: what maps passes; the renamed amount is never shown as a made-up value', async () => {
    stack.sandbox.upstream('pricing').setFaults({ drift: 'rename' });
    const r = await stack.gql(OPERATIONS.ProductPage, VARS);
    const product = r.body.data.product;
    // Price.sale is non-null in the schema, so the price object is null; everything else is served.
    expect(product.price).toBeNull();
    expect(product.title).toBe(byId.get('1')!.title);
    expect(product.availability).not.toBeNull();
    expect(r.text).not.toContain('NaN');
    const codes = new Set((r.body.errors as any[]).map((e) => e.extensions.code));
    expect([...codes]).toEqual(['UPSTREAM_CONTRACT_VIOLATION']);
    expect(violations.map((v) => v.mode)).toEqual(['report', 'report']);
  });
});
