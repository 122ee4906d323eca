/**
 * GraphQL over HTTP as clients and the spec's audit see it: graphql-http's server audits (every MUST
 * and every SHOULD), and the protocol details of issue 17: media types compared without case, every
 * refusal a JSON error with the request id, request errors without internals in production, and with
 * `Accept: application/json` a parse, validation or variable coercion failure answered 200 (the errors
 * in the body), 400 under application/graphql-response+json. Both pipelines (the fast path and yoga's).
 */
import { auditServer } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';

const GQL = 'application/graphql-response+json';
const JSON_TYPE = 'application/json';

let fast: Stack;
let yogaOnly: Stack;
let production: Stack;

beforeAll(async () => {
  [fast, yogaOnly, production] = await Promise.all([
    startStack(),
    startStack({ env: { DIRECT_EXECUTION: 'off' } }),
    startStack({ env: { NODE_ENV: 'production', JWT_SECRET: 'production-test-secret-0123456789abcdef', LOG_LEVEL: 'warn' } }),
  ]);
});
afterAll(async () => Promise.all([fast?.close(), yogaOnly?.close(), production?.close()]));

async function send(stack: Stack, init: { method?: string; contentType?: string; accept?: string; body?: string; headers?: Record<string, string> }) {
  const res = await fetch(`${stack.url}/graphql`, {
    method: init.method ?? 'POST',
    headers: { ...(init.contentType ? { 'content-type': init.contentType } : {}), accept: init.accept ?? JSON_TYPE, ...init.headers },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type'), requestId: res.headers.get('x-request-id'), text, body: text ? (JSON.parse(text) as any) : undefined };
}

const query = (q: string, variables?: unknown) => JSON.stringify({ query: q, ...(variables ? { variables } : {}) });

describe('GraphQL over HTTP', () => {
  it("passes graphql-http's server audit: no MUST and no SHOULD fails", async () => {
    for (const stack of [fast, yogaOnly]) {
      const results = await auditServer({ url: `${stack.url}/graphql` });
      expect(results.length).toBeGreaterThan(40);
      const failing = results.filter((r) => r.status === 'error' || r.status === 'warn').map((r) => `${r.status} ${r.name}`);
      expect(failing).toEqual([]);
    }
  });

  for (const [name, stack] of [
    ['fast path', () => fast],
    ['yoga path', () => yogaOnly],
  ] as const) {
    describe(name, () => {
      it('answers parse, validation and coercion failures 200 under application/json, 400 under application/graphql-response+json', async () => {
        const failures = [query('{ apiVersion'), query('mutation { apiVersion }'), query('{ nope }'), query('query($id: ID!) { product(id: $id) { id } }', { id: { a: 1 } })];
        for (const body of failures) {
          const legacy = await send(stack(), { contentType: JSON_TYPE, accept: JSON_TYPE, body });
          expect(legacy.status, body).toBe(200);
          expect(legacy.type).toContain(JSON_TYPE);
          expect(legacy.body.data).toBeUndefined();
          expect(legacy.body.errors[0].extensions.code).toMatch(/^GRAPHQL_(PARSE|VALIDATION)_FAILED$/);
          expect(legacy.body.errors[0].extensions.requestId).toBe(legacy.requestId);
          const modern = await send(stack(), { contentType: JSON_TYPE, accept: GQL, body });
          expect(modern.status, body).toBe(400);
          expect(modern.type).toContain(GQL);
        }
        // There is a Mutation type: a field it lacks is a validation error naming it, never an internal error.
        const m = await send(stack(), { contentType: JSON_TYPE, accept: GQL, body: query('mutation { apiVersion }') });
        expect(m.body.errors[0]).toMatchObject({ message: 'Cannot query field "apiVersion" on type "Mutation".', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
      });

      it('reads media types without case', async () => {
        for (const contentType of ['APPLICATION/JSON', 'application/JSON; charset=UTF-8', 'Application/Json;Charset=utf-8']) {
          const r = await send(stack(), { contentType, accept: 'Application/JSON', body: query('{ apiVersion }') });
          expect(r.status, contentType).toBe(200);
          expect(r.body).toEqual({ data: { apiVersion: expect.any(String) } });
        }
      });

      it('answers every refusal with a JSON error and the request id', async () => {
        const cases = [
          { init: { contentType: 'application/xml', body: '<q/>', headers: { 'x-graphql-csrf': '1' } }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
          { init: { contentType: JSON_TYPE, accept: 'application/xml', body: query('{ apiVersion }') }, status: 406, code: 'NOT_ACCEPTABLE' },
          { init: { method: 'PUT', contentType: JSON_TYPE, body: '{}' }, status: 405, code: 'BAD_REQUEST' },
          { init: { contentType: JSON_TYPE, body: '{"query": ' }, status: 400, code: 'BAD_REQUEST' },
          { init: { contentType: JSON_TYPE, body: '{"variables": {}}' }, status: 400, code: 'BAD_REQUEST' },
          { init: { contentType: 'text/plain', body: query('{ apiVersion }') }, status: 403, code: 'CSRF_PREVENTED' },
          { init: { contentType: JSON_TYPE, body: 'x'.repeat(2 * 1024 * 1024) }, status: 413, code: 'PAYLOAD_TOO_LARGE' },
        ];
        for (const c of cases) {
          const r = await send(stack(), c.init);
          expect(r.status, c.code).toBe(c.status);
          expect(r.type, c.code).toContain('application/json');
          expect(r.requestId).toMatch(/\S/);
          expect(r.body.errors[0].extensions, c.code).toMatchObject({ code: expect.any(String), requestId: r.requestId });
          if (c.code !== 'PAYLOAD_TOO_LARGE') expect(r.body.errors[0].extensions.code).toBe(c.code);
        }
      });
    });
  }

  it('never shows a request error\'s internals (the JSON parser\'s message) in production', async () => {
    const r = await send(production, { contentType: JSON_TYPE, body: '{"query": "{ apiVersion }", ' });
    expect(r.status).toBe(400);
    expect(r.body.errors[0].message).toBe('POST body sent invalid JSON.');
    expect(r.body.errors[0].extensions).toEqual({ code: 'BAD_REQUEST', requestId: r.requestId });
    expect(r.text).not.toContain('originalError');
    expect(r.text).not.toContain('SyntaxError');
  });
});
