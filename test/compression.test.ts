/**
 * Response compression: `Accept-Encoding` honoured (br, gzip, by q-values) above COMPRESSION_MIN_BYTES,
 * on the fast path (POST) and on yoga's handler (GET); the decoded bytes are the identity answer's;
 * small answers, clients that ask for nothing, and COMPRESSION=off get identity.
 */
import { request as httpRequest } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseEncoding } from '../src/http/compression.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

let stack: Stack;
let off: Stack;
beforeAll(async () => {
  [stack, off] = await Promise.all([startStack(), startStack({ env: { COMPRESSION: 'off' } })]);
});
afterAll(async () => Promise.all([stack?.close(), off?.close()]));

const PAGE = { query: OPERATIONS.CategoryPage, variables: { slug: 'groceries', first: 20 } };

function raw(url: string, opts: { method?: string; path?: string; body?: string; encoding?: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}${opts.path ?? '/graphql'}`,
      {
        method: opts.method ?? 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'x-graphql-csrf': '1', ...(opts.encoding !== undefined ? { 'accept-encoding': opts.encoding } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const decode = (r: { headers: Record<string, unknown>; body: Buffer }) =>
  r.headers['content-encoding'] === 'br' ? brotliDecompressSync(r.body) : r.headers['content-encoding'] === 'gzip' ? gunzipSync(r.body) : r.body;

describe('compression', () => {
  it('chooses by q-values: br before gzip on a tie, * for both, q=0 refuses', () => {
    expect(chooseEncoding('gzip, deflate, br')).toBe('br');
    expect(chooseEncoding('gzip;q=1, br;q=0.5')).toBe('gzip');
    expect(chooseEncoding('br;q=0, gzip;q=0.1')).toBe('gzip');
    expect(chooseEncoding('br;q=0')).toBeUndefined();
    expect(chooseEncoding('*')).toBe('br');
    expect(chooseEncoding('deflate')).toBeUndefined();
    expect(chooseEncoding(undefined)).toBeUndefined();
  });

  it('compresses a 20-product category page as asked, to the same bytes decoded, and varies on Accept-Encoding', async () => {
    const body = JSON.stringify(PAGE);
    const identity = await raw(stack.url, { body, encoding: 'identity' });
    expect(identity.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(identity.body.toString()).data.category.products.nodes).toHaveLength(20);
    for (const encoding of ['br', 'gzip'] as const) {
      const r = await raw(stack.url, { body, encoding });
      expect(r.status).toBe(200);
      expect(r.headers['content-encoding']).toBe(encoding);
      expect(r.headers.vary).toMatch(/Accept-Encoding/i);
      expect(Number(r.headers['content-length'])).toBe(r.body.length);
      expect(r.body.length).toBeLessThan(identity.body.length / 3);
      expect(JSON.parse(decode(r).toString())).toEqual(JSON.parse(identity.body.toString()));
    }
    // No Accept-Encoding: identity.
    expect((await raw(stack.url, { body })).headers['content-encoding']).toBeUndefined();
  });

  it('compresses GET answers (yoga handler) too', async () => {
    const path = `/graphql?query=${encodeURIComponent(PAGE.query)}&variables=${encodeURIComponent(JSON.stringify(PAGE.variables))}`;
    const plain = await raw(stack.url, { method: 'GET', path, encoding: 'identity' });
    expect(plain.status).toBe(200);
    const r = await raw(stack.url, { method: 'GET', path, encoding: 'gzip' });
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(decode(r).toString())).toEqual(JSON.parse(plain.body.toString()));
  });

  it('leaves small answers and COMPRESSION=off alone', async () => {
    const small = await raw(stack.url, { body: JSON.stringify({ query: '{ apiVersion }' }), encoding: 'br, gzip' });
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(small.body.toString()).data.apiVersion).toBeTruthy();
    const big = await raw(off.url, { body: JSON.stringify(PAGE), encoding: 'br, gzip' });
    expect(big.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(big.body.toString()).data.category.products.nodes).toHaveLength(20);
  });
});
