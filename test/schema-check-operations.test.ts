/**
 * Typed operations (`generated/operations.ts`, from `npm run codegen`): each typed document is the
 * committed operation of `operations/`, and a client using one gets its result typed. Real gateway.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { print, parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ops from '../generated/operations.js';
import { byId, saleCents, usd } from './support/expected.js';
import { post, startStack, type Stack } from './support/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { CACHE: 'off' } });
});
afterAll(async () => {
  await stack?.close();
});

/** What a frontend's typed client does: result and variables types come from the document. */
async function request<R, V>(doc: TypedDocumentNode<R, V>, variables: V): Promise<{ data: R | null; errors?: unknown[] }> {
  const r = await post(stack.url, { query: print(doc), variables });
  return r.body as { data: R | null; errors?: unknown[] };
}

describe('typed documents for operations/', () => {
  it('there is one typed document per operation file, equal to it', () => {
    const documents = Object.entries(ops).filter(([k]) => k.endsWith('Document'));
    const files = readdirSync(new URL('../operations/', import.meta.url)).filter((f) => f.endsWith('.graphql'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    expect(documents.map(([k]) => k).sort()).toEqual(files.map((f) => `${f.replace(/\.graphql$/, '')}Document`).sort());
    for (const [k, doc] of documents) {
      const file = readFileSync(new URL(`../operations/${k.replace(/Document$/, '')}.graphql`, import.meta.url), 'utf8');
      expect(print(doc as never)).toBe(print(parse(file)));
    }
  });

  it('ProductPage through its typed document: typed result, correct data', async () => {
    const vars: ops.ProductPageQueryVariables = { id: '1', country: 'US', postcode: '10001' };
    const r = await request(ops.ProductPageDocument, vars);
    const product: ops.ProductPageQuery['product'] = r.data!.product;
    const sale: string | undefined = product?.price?.sale.amount;
    expect(r.errors).toBeUndefined();
    expect(sale).toBe(usd(saleCents(byId.get('1')!)).amount);
    expect(product?.title).toBe(byId.get('1')!.title);
  });
});
