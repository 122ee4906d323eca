/**
 * Incremental delivery (@defer, @stream) in the 2022-08-24 format Apollo Client's Defer20220824Handler
 * and urql read: over multipart/mixed and text/event-stream, the fast fields first and the deferred
 * ones later at their path, never flattened by graphql-jit; a client that accepts only JSON is told
 * (406); the trace shows when each part left; the slow upstream is called once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './support/stack.js';

let stack: Stack;
beforeAll(async () => {
  // Recommendations slower than the rest, as in the shop: the deferred part comes last.
  stack = await startStack({ sandbox: { latencyMs: { catalog: 0, recommendations: 60 } } });
});
afterAll(() => stack?.close());

const DEFERRED = `query ProductDeferred($id: ID!) { product(id: $id) { id title ... @defer(label: "recs") { recommendations(first: 2) { id title } } } }`;
const STREAMED = `query ProductStreamed($id: ID!) { product(id: $id) { id recommendations(first: 3) @stream(initialCount: 1) { id } } }`;

async function send(query: string, accept: string) {
  const res = await fetch(`${stack.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body: JSON.stringify({ query, variables: { id: '1' } }) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', requestId: res.headers.get('x-request-id')!, text: await res.text() };
}

/** The JSON parts of a multipart/mixed body (boundary from the content type). */
function multipartParts(type: string, text: string): any[] {
  const boundary = /boundary="?([^";]+)"?/.exec(type)![1]!;
  return text
    .split(`--${boundary}`)
    .map((chunk) => chunk.slice(chunk.indexOf('\r\n\r\n') >= 0 ? chunk.indexOf('\r\n\r\n') + 4 : chunk.length).trim())
    .filter((body) => body.startsWith('{'))
    .map((body) => JSON.parse(body));
}

/** The JSON `next` events of an event stream. */
function eventParts(text: string): any[] {
  return text
    .split('\n\n')
    .filter((e) => e.includes('event: next'))
    .map((e) => JSON.parse(e.split('\n').find((l) => l.startsWith('data: '))!.slice(6)));
}

const recommendationCalls = () => stack.sandbox.upstream('recommendations').stats().total;

describe('@defer and @stream', () => {
  it('over multipart/mixed: the fast fields first, the deferred ones after at their path, one upstream call', async () => {
    const before = recommendationCalls();
    const r = await send(DEFERRED, 'multipart/mixed; deferSpec=20220824, application/json');
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^multipart\/mixed/);
    const parts = multipartParts(r.type, r.text);
    expect(parts).toHaveLength(2);
    expect(parts[0]).toEqual({ data: { product: { id: '1', title: expect.any(String) } }, hasNext: true });
    expect(parts[0].data.product.recommendations).toBeUndefined();
    expect(parts[1].hasNext).toBe(false);
    expect(parts[1].incremental).toEqual([{ data: { recommendations: [expect.objectContaining({ id: expect.any(String) }), expect.objectContaining({ id: expect.any(String) })] }, path: ['product'], label: 'recs' }]);
    expect(recommendationCalls() - before).toBe(1);

    // The trace: when each part left, the initial one first.
    const trace = (await (await fetch(`${stack.url}/traces/${r.requestId}`, { headers: { accept: 'application/json' } })).json()) as { parts?: number[] };
    expect(trace.parts).toHaveLength(2);
    expect(trace.parts![0]).toBeLessThanOrEqual(trace.parts![1]!);
  });

  it('over text/event-stream: the same parts as events', async () => {
    const r = await send(DEFERRED, 'text/event-stream');
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/event-stream/);
    const parts = eventParts(r.text);
    expect(parts.map((p) => p.hasNext)).toEqual([true, false]);
    expect(parts[0].data.product.recommendations).toBeUndefined();
    expect(parts[1].incremental[0].path).toEqual(['product']);
    expect(r.text).toMatch(/event: complete/);
  });

  it("@stream: the list's first item in the first part, the others in later ones, in order", async () => {
    const r = await send(STREAMED, 'multipart/mixed; deferSpec=20220824');
    const parts = multipartParts(r.type, r.text);
    expect(parts[0].data.product.recommendations).toHaveLength(1);
    const streamed = parts.slice(1).flatMap((p) => p.incremental ?? []);
    expect(streamed.map((i: any) => i.path)).toEqual([
      ['product', 'recommendations', 1],
      ['product', 'recommendations', 2],
    ]);
    expect(parts.at(-1).hasNext).toBe(false);
  });

  it('a client that accepts only JSON is told what it must accept (406), and the document is never answered flattened', async () => {
    const before = stack.sandbox.upstream('catalog').stats().total + recommendationCalls();
    const r = await send(DEFERRED, 'application/json');
    expect(r.status).toBe(406);
    const body = JSON.parse(r.text);
    expect(body.errors[0].extensions.code).toBe('NOT_ACCEPTABLE');
    expect(body.errors[0].message).toMatch(/multipart\/mixed/);
    // Refused before it ran: no upstream was called for an answer nobody could read.
    expect(stack.sandbox.upstream('catalog').stats().total + recommendationCalls()).toBe(before);
  });

  it("a deferred field's failure is an error of its part, with its code and the request id, as it would be unbroken", async () => {
    stack.sandbox.upstream('reviews').setFaults({ down: true });
    try {
      const r = await send(`query Late($id: ID!) { product(id: $id) { id ... @defer { reviews(first: 2) { rating } } } }`, 'multipart/mixed; deferSpec=20220824');
      const parts = multipartParts(r.type, r.text);
      expect(parts[0]).toEqual({ data: { product: { id: '1' } }, hasNext: true });
      expect(parts[1].incremental[0].data).toEqual({ reviews: null });
      expect(parts[1].incremental[0].errors).toEqual([
        expect.objectContaining({ path: ['product', 'reviews'], extensions: { code: 'UPSTREAM_UNAVAILABLE', upstream: 'reviews', endpoint: 'reviewsByProductId', requestId: r.requestId } }),
      ]);
      // The trace has the part's error as the client saw it.
      const trace = (await (await fetch(`${stack.url}/traces/${r.requestId}`, { headers: { accept: 'application/json' } })).json()) as { errors?: unknown };
      expect(trace.errors).toEqual([{ message: 'Upstream "reviews" is unavailable.', code: 'UPSTREAM_UNAVAILABLE', path: ['product', 'reviews'] }]);
    } finally {
      stack.sandbox.upstream('reviews').setFaults(null);
    }
  });

  it('only the operation that runs decides: another operation of the document with @defer does not make it 406', async () => {
    const doc = `query A { apiVersion } query B($id: ID!) { product(id: $id) { id ... @defer { title } } } query C($later: Boolean = false) { product(id: "2") { id ... @defer(if: $later) { title } } }`;
    const post = (operationName: string, variables: Record<string, unknown>) =>
      fetch(`${stack.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ query: doc, operationName, variables }) });
    const a = await post('A', {});
    expect(a.status).toBe(200);
    expect(await a.json()).toEqual({ data: { apiVersion: expect.any(String) } });
    // C's own default turns its @defer off: one JSON answer.
    const c = await post('C', {});
    expect(c.status).toBe(200);
    expect(((await c.json()) as any).data.product).toEqual({ id: '2', title: expect.any(String) });
    const b = await post('B', { id: '1' });
    expect(b.status).toBe(406);
    // The refusal is recorded as one: its code in the trace.
    const trace = (await (await fetch(`${stack.url}/traces/${b.headers.get('x-request-id')}`, { headers: { accept: 'application/json' } })).json()) as { errors: { code: string }[] };
    expect(trace.errors.map((e) => e.code)).toEqual(['NOT_ACCEPTABLE']);
  });

  it('a @defer whose `if` is false answers as one JSON result to a JSON-only client', async () => {
    const conditional = DEFERRED.replace('($id: ID!)', '($id: ID!, $later: Boolean = true)').replace('@defer(label: "recs")', '@defer(label: "recs", if: $later)');
    const res = await fetch(`${stack.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ query: conditional, variables: { id: '1', later: false } }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.errors).toBeUndefined();
    expect(body.data.product.recommendations).toHaveLength(2);
  });
});
