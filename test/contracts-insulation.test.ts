/**
 * Insulation: the pricing upstream renames `sale` to `salePrice` (the sandbox's rename drift). The
 * fix is a change to `upstreams/pricing.ts` alone: this test derives the fixed definition from the
 * committed file by a textual edit of its declared shape and mapping (two lines), loads it in place
 * of the committed one, and gets correct prices again. No resolver, SDL or engine file changes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UpstreamDef } from '../src/connector/index.js';
import { anonymousRecommendations, byId, saleCents, usd } from './support/expected.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ORIGINAL = readFileSync(join(ROOT, 'upstreams/pricing.ts'), 'utf8');

/** The upstream team's rename, absorbed where the upstream's field names live: its definition. */
function absorbRename(source: string): string {
  const out = source.replace('  sale: Type.Number(),', '  salePrice: Type.Number(),').replace('sale: p.sale,', 'sale: p.salePrice,');
  if (out === source) throw new Error('upstreams/pricing.ts no longer has the lines this test edits');
  return out;
}

const changedLines = (a: string, b: string): string[] => {
  const la = a.split('\n');
  const lb = b.split('\n');
  expect(lb.length).toBe(la.length);
  return lb.filter((line, i) => line !== la[i]);
};

const VARS = { id: '1', country: 'US', postcode: '10001' };
const expectedSale = (id: number) => usd(saleCents(byId.get(String(id))!));

describe('absorbing an upstream rename in upstreams/pricing.ts alone', () => {
  let dir: string;
  let fixed: UpstreamDef;
  let before: Stack;
  let after: Stack;

  beforeAll(async () => {
    // Inside the repo, not the OS temp dir: at the same depth as upstreams/ its relative import
    // (../src/connector) resolves unchanged, and its package import (@sinclair/typebox) finds the
    // repo's node_modules. `.insulation-*/` is in .gitignore in case a run dies before afterAll.
    dir = mkdtempSync(join(ROOT, '.insulation-'));
    const file = join(dir, 'pricing.ts');
    writeFileSync(file, absorbRename(ORIGINAL));
    fixed = ((await import(pathToFileURL(file).href)) as { default: UpstreamDef }).default;
    before = await startStack({ env: { CACHE: 'off' }, sandbox: { faults: { pricing: { drift: 'rename' } } } });
    after = await startStack({
      env: { CACHE: 'off' },
      sandbox: { faults: { pricing: { drift: 'rename' } } },
      start: { upstreamOverrides: { pricing: fixed } },
    });
  });
  afterAll(async () => {
    await before?.close();
    await after?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the change is two lines of the definition: the declared field and its mapping', () => {
    expect(changedLines(ORIGINAL, absorbRename(ORIGINAL)).map((l) => l.trim())).toEqual(['salePrice: Type.Number(),', 'sale: p.salePrice,']);
    expect(fixed.name).toBe('pricing');
  });

  it('with the committed definition, the renamed field is a contract violation', async () => {
    const r = await before.gql(OPERATIONS.ProductPage, VARS);
    expect(r.body.data.product.price).toBeNull();
    expect(r.body.errors[0].extensions).toMatchObject({ code: 'UPSTREAM_CONTRACT_VIOLATION', upstream: 'pricing', path: '/prices/0/sale' });
  });

  it('with the changed definition, every price is correct again', async () => {
    const r = await after.gql(OPERATIONS.ProductPage, VARS);
    expect(r.body.errors).toBeUndefined();
    const p = byId.get('1')!;
    expect(r.body.data.product.price).toEqual({ sale: expectedSale(1), list: usd(Math.round(p.price * 100)), discountPercentage: p.discountPercentage });
    expect(r.body.data.product.recommendations.map((x: any) => x.price.sale)).toEqual(anonymousRecommendations(1, 4).map(expectedSale));
    // The prices came from the drifted upstream, not from elsewhere.
    expect(after.sandbox.upstream('pricing').stats().counts['GET /v1/prices']).toBe(2);
  });

  it('the changed definition in turn rejects the old shape, so it is the mapping that was fixed', async () => {
    after.sandbox.upstream('pricing').setFaults(null);
    const r = await after.gql(OPERATIONS.ProductPage, VARS);
    expect(r.body.data.product.price).toBeNull();
    expect(r.body.errors[0].extensions).toMatchObject({ code: 'UPSTREAM_CONTRACT_VIOLATION', upstream: 'pricing', path: '/prices/0/salePrice' });
  });
});
