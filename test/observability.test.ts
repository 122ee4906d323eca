/**
 * Execution traces against the real sandbox: a ProductPage trace lists exactly the HTTP requests the
 * upstreams saw (retries as separate attempts), the client's traceparent reaches every upstream,
 * /metrics parses and its counters match the calls made (hedges, bulkhead rejections, spent retry
 * budgets and contract violations included), and the trace store keeps its bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';
import { multiset, parsePrometheus, seen, sum } from './support/observability.js';
import { eventually } from './support/wait.js';
import type { Trace } from '../src/observability/index.js';

const VARS = { id: '1', country: 'US', postcode: '10001' };
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

async function getJson<T>(url: string): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  return { status: res.status, body: (await res.json()) as T, headers: res.headers };
}

describe('a ProductPage trace', () => {
  let s: Stack;
  beforeAll(async () => {
    // reviews always answers 503: three attempts, each a separate call in the trace and in __stats.
    s = await startStack({ sandbox: { faults: { reviews: { error: { probability: 1, status: 503 } } } }, env: { HEDGING: 'off' } });
  });
  afterAll(() => s.close());

  it('lists exactly the upstream calls the sandbox saw, retries as separate attempts, offsets inside the duration', async () => {
    s.resetStats();
    const r = await s.gql(OPERATIONS.ProductPage, VARS, { 'x-tributary-trace': '1', 'x-request-id': 'pp-trace-1', traceparent: TRACEPARENT });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-request-id')).toBe('pp-trace-1');
    const inline = r.body.extensions.trace as Trace;
    expect(inline.requestId).toBe('pp-trace-1');
    expect(inline.operationName).toBe('ProductPage');
    // reviews failed: the error reaches the client with the request id, and the trace carries it
    expect(r.body.errors.every((e: any) => e.extensions.requestId === 'pp-trace-1')).toBe(true);
    expect(inline.errors.length).toBe(r.body.errors.length);

    const { status, body: stored } = await getJson<Trace>(`${s.url}/traces/pp-trace-1`);
    expect(status).toBe(200);
    const sandboxSaw = seen(s.sandbox);
    expect(sandboxSaw.length).toBeGreaterThanOrEqual(12);
    const traced = multiset(stored.calls.map((c) => `${c.upstream} ${c.method} ${c.path}`));
    expect(traced).toEqual(multiset(sandboxSaw.map((q) => `${q.upstream} ${q.method} ${q.path}`)));
    expect(stored.calls.length).toBe(sandboxSaw.length);
    // The inline trace (built before the response) already had every call.
    expect(inline.calls.length).toBe(stored.calls.length);
    // HTTP statuses agree too, upstream by upstream.
    expect(multiset(stored.calls.map((c) => `${c.upstream} ${c.path} ${c.status}`))).toEqual(multiset(sandboxSaw.map((q) => `${q.upstream} ${q.path} ${q.status}`)));

    const reviews = stored.calls.filter((c) => c.upstream === 'reviews');
    expect(reviews.map((c) => [c.attempt, c.status, c.outcome])).toEqual([
      [1, 503, 'retried'],
      [2, 503, 'retried'],
      [3, 503, 'error'],
    ]);
    expect(s.sandbox.upstream('reviews').stats().total).toBe(3);

    // ordered by start, non-negative offsets, every call inside the request
    for (let i = 0; i < stored.calls.length; i++) {
      const c = stored.calls[i]!;
      expect(c.offsetMs).toBeGreaterThanOrEqual(0);
      expect(c.durationMs).toBeGreaterThanOrEqual(0);
      expect(c.offsetMs + c.durationMs).toBeLessThanOrEqual(stored.durationMs + 0.02);
      if (i > 0) expect(c.offsetMs).toBeGreaterThanOrEqual(stored.calls[i - 1]!.offsetMs);
    }
    // the OAuth2 token fetch the shipping call needed is part of this request's trace
    expect(stored.calls.filter((c) => c.endpoint === 'oauthToken')).toHaveLength(1);
    expect(stored.calls.find((c) => c.endpoint === 'productById' && c.path === '/products/1')).toMatchObject({ keys: 1, cache: 'miss', breaker: 'closed', hedge: false });
  });

  it('sends the client traceparent to every upstream call with the same trace id', async () => {
    s.resetStats();
    const r = await s.gql(OPERATIONS.ProductPage, { ...VARS, id: '2' }, { 'x-tributary-trace': '1', traceparent: TRACEPARENT, tracestate: 'vendor=abc' });
    expect(r.body.extensions.trace.traceId).toBe(TRACE_ID);
    const sandboxSaw = seen(s.sandbox);
    expect(sandboxSaw.length).toBeGreaterThan(5);
    for (const q of sandboxSaw) {
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(q.headers.traceparent ?? '');
      expect(m, `${q.upstream} ${q.path}`).not.toBeNull();
      expect(m![1]).toBe(TRACE_ID);
      expect(m![2]).not.toBe('00f067aa0ba902b7'); // our request span is the parent, not the client's
      expect(q.headers.tracestate).toBe('vendor=abc');
    }
    // The request's log line carries the same trace id, so logs and traces join on it.
    const line = s.logs.filter((l) => l.msg === 'graphql request' && l.requestId === r.headers.get('x-request-id')).at(-1);
    expect(line?.traceId).toBe(TRACE_ID);
  });

  it('gives every result of a batched request the request id in its errors and, when asked, the one trace', async () => {
    s.resetStats();
    const batch = [
      { query: OPERATIONS.ProductPage, variables: { ...VARS, id: '4' } },
      { query: '{ product(id: "150") { id title } }' },
    ];
    const res = await fetch(`${s.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tributary-trace': '1', 'x-request-id': 'batch-trace-1' },
      body: JSON.stringify(batch),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data?: any; errors?: any[]; extensions?: { trace?: Trace } }[];
    expect(body).toHaveLength(2);
    expect(body[0]!.data.product.id).toBe('4');
    expect(body[1]!.data.product).toEqual({ id: '150', title: expect.any(String) });
    // reviews answers 503 in this stack: the first operation's errors name this request
    expect(body[0]!.errors!.length).toBeGreaterThan(0);
    expect(body[0]!.errors!.every((e) => e.extensions.requestId === 'batch-trace-1')).toBe(true);
    for (const r of body) expect(r.extensions?.trace?.requestId).toBe('batch-trace-1');
    // one request, one trace: both operations' upstream calls, exactly as the sandbox saw them
    const trace = body[0]!.extensions!.trace!;
    expect(body[1]!.extensions!.trace).toEqual(trace);
    expect(multiset(trace.calls.map((c) => `${c.upstream} ${c.method} ${c.path}`))).toEqual(multiset(seen(s.sandbox).map((q) => `${q.upstream} ${q.method} ${q.path}`)));
    // both operations' calls are in it (ids no earlier test of this stack fetched, so not cached)
    expect(trace.calls.some((c) => c.path === '/recommendations?productId=4&limit=4')).toBe(true);
    expect(trace.calls.some((c) => c.path === '/products/150')).toBe(true);
  });

  it('starts a new trace when the client sends none or an invalid one, and never forwards a bad header', async () => {
    for (const bad of [undefined, 'garbage', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, `ff-${TRACE_ID}-00f067aa0ba902b7-01`, `00-${TRACE_ID.toUpperCase()}-00f067aa0ba902b7-01`]) {
      s.resetStats();
      const r = await s.gql(OPERATIONS.ProductPage, { ...VARS, id: '3' }, { 'x-tributary-trace': '1', ...(bad ? { traceparent: bad } : {}) });
      const traceId = r.body.extensions.trace.traceId as string;
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(traceId).not.toBe(TRACE_ID);
      for (const q of seen(s.sandbox)) expect(q.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    }
  });

  it('shows cache hits of a repeated request and still matches the sandbox exactly', async () => {
    await s.gql(OPERATIONS.ProductPage, { ...VARS, id: '4' });
    s.resetStats();
    const r = await s.gql(OPERATIONS.ProductPage, { ...VARS, id: '4' }, { 'x-tributary-trace': '1' });
    const t = r.body.extensions.trace as Trace;
    expect(t.cache.some((c) => c.status === 'hit' && c.upstream === 'catalog')).toBe(true);
    expect(multiset(t.calls.map((c) => `${c.upstream} ${c.method} ${c.path}`))).toEqual(multiset(seen(s.sandbox).map((q) => `${q.upstream} ${q.method} ${q.path}`)));
  });

  it('gives no trace without the header, and the store still keeps it', async () => {
    const r = await s.gql(OPERATIONS.ProductPage, VARS, { 'x-request-id': 'pp-untraced' });
    expect(r.body.extensions?.trace).toBeUndefined();
    const { status, body } = await getJson<Trace>(`${s.url}/traces/pp-untraced`);
    expect(status).toBe(200);
    expect(body.operationName).toBe('ProductPage');
  });
});

describe('a trace with hedged calls', () => {
  let s: Stack;
  beforeAll(async () => {
    // recommendations answers in 60 ms; a hedge starts after 5 ms, so every call has two attempts.
    s = await startStack({ start: { policyOverrides: { recommendations: { hedge: { delayMs: 5 } } } } });
  });
  afterAll(() => s.close());

  it('shows the hedge and the cancelled loser as attempts, exactly as the sandbox saw them', async () => {
    s.resetStats();
    await s.gql(OPERATIONS.ProductPage, VARS, { 'x-request-id': 'hedged-1' });
    // The loser's socket closes after the answer: wait until the sandbox has seen every request end.
    await eventually(() => Object.values(s.sandbox.upstreams).every((u) => u.stats().requests.every((q) => q.end !== 0)), 'every upstream request ended');
    const { body: t } = await getJson<Trace>(`${s.url}/traces/hedged-1`);
    const sandboxSaw = seen(s.sandbox);
    expect(multiset(t.calls.map((c) => `${c.upstream} ${c.method} ${c.path}`))).toEqual(multiset(sandboxSaw.map((q) => `${q.upstream} ${q.method} ${q.path}`)));
    const recs = t.calls.filter((c) => c.upstream === 'recommendations');
    expect(recs).toHaveLength(2);
    expect(recs.map((c) => c.hedge)).toEqual([false, true]);
    expect(recs.map((c) => c.outcome).sort()).toEqual(['cancelled', 'ok']);
    expect(recs[1]!.offsetMs).toBeGreaterThan(recs[0]!.offsetMs);
    const hedgedSeen = sandboxSaw.filter((q) => q.upstream === 'recommendations' && q.headers['x-tributary-hedge'] === '1');
    expect(hedgedSeen).toHaveLength(1);
  });
});

describe('/traces', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ env: { TRACE_STORE_SIZE: '8' }, sandbox: { latencyMs: { catalog: 0, pricing: 0, inventory: 0, reviews: 0, recommendations: 0, shipping: 0, tax: 0, accounts: 0 } } });
  });
  afterAll(() => s.close());

  it('stays within its bound under concurrent load, newest first', async () => {
    const store = s.gateway.observability.store;
    let maxSeen = 0;
    for (let batch = 0; batch < 6; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => s.gql(OPERATIONS.ProductPage, { ...VARS, id: String(1 + ((batch * 20 + i) % 50)) }, { 'x-request-id': `load-${batch}-${i}` })),
      );
      maxSeen = Math.max(maxSeen, store.size);
      const { body } = await getJson<{ capacity: number; size: number; traces: { requestId: string }[] }>(`${s.url}/traces`);
      expect(body.capacity).toBe(8);
      expect(body.traces.length).toBe(8);
      expect(body.traces.every((t) => t.requestId.startsWith(`load-${batch}-`))).toBe(true);
    }
    expect(maxSeen).toBe(8);
    expect((await getJson(`${s.url}/traces/load-0-0`)).status).toBe(404);
    // sequential requests: the list is newest first
    for (const id of ['seq-a', 'seq-b', 'seq-c']) await s.gql(OPERATIONS.ProductPage, VARS, { 'x-request-id': id });
    const { body } = await getJson<{ traces: { requestId: string }[] }>(`${s.url}/traces?limit=3`);
    expect(body.traces.map((t) => t.requestId)).toEqual(['seq-c', 'seq-b', 'seq-a']);
  });

  it('filters by operation, status and minimum duration; refuses bad filters with a clear message', async () => {
    await s.gql(OPERATIONS.CategoryPage, { slug: 'beauty', first: 2 }, { 'x-request-id': 'cat-1' });
    await s.gql('query Broken { nope }', {}, { 'x-request-id': 'broken-1' });
    const byOp = await getJson<{ traces: { requestId: string; operationName: string }[] }>(`${s.url}/traces?operation=CategoryPage`);
    expect(byOp.body.traces.map((t) => t.requestId)).toEqual(['cat-1']);
    const errors = await getJson<{ traces: { requestId: string; outcome: string; status: number }[] }>(`${s.url}/traces?status=error`);
    expect(errors.body.traces.map((t) => t.requestId)).toEqual(['broken-1']);
    expect(errors.body.traces[0]!.status).toBe(400);
    const by400 = await getJson<{ traces: { requestId: string }[] }>(`${s.url}/traces?status=400`);
    expect(by400.body.traces.map((t) => t.requestId)).toEqual(['broken-1']);
    const all = await getJson<{ traces: { durationMs: number }[] }>(`${s.url}/traces`);
    const cut = [...all.body.traces.map((t) => t.durationMs)].sort((a, b) => a - b)[4]!;
    const slow = await getJson<{ traces: { durationMs: number }[] }>(`${s.url}/traces?minDurationMs=${cut}`);
    expect(slow.body.traces.length).toBe(all.body.traces.filter((t) => t.durationMs >= cut).length);
    expect(slow.body.traces.every((t) => t.durationMs >= cut)).toBe(true);
    for (const bad of ['status=maybe', 'minDurationMs=-1', 'minDurationMs=abc', 'limit=0']) {
      const r = await getJson<{ errors: { message: string; extensions: { code: string } }[] }>(`${s.url}/traces?${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.errors[0]!.extensions.code).toBe('BAD_REQUEST');
      expect(r.body.errors[0]!.message).toMatch(/must be/);
    }
    const missing = await getJson<{ errors: { extensions: { code: string } }[] }>(`${s.url}/traces/no-such-request`);
    expect(missing.status).toBe(404);
    expect(missing.body.errors[0]!.extensions.code).toBe('NOT_FOUND');
    expect((await getJson(`${s.url}/traces/%E0%A4%A`)).status).toBe(400);
  });
});

describe('/metrics', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ sandbox: { faults: { pricing: { error: { probability: 0.4, status: 503 } } } }, env: { HEDGING: 'off' } });
  });
  afterAll(() => s.close());

  it('parses as Prometheus text and its counters match the calls made', async () => {
    const ops = [
      () => s.gql(OPERATIONS.ProductPage, VARS),
      () => s.gql(OPERATIONS.ProductPage, { ...VARS, id: '7' }),
      () => s.gql(OPERATIONS.ProductPage, VARS),
      () => s.gql(OPERATIONS.CategoryPage, { slug: 'groceries', first: 5 }),
      () => s.gql('query Broken { nope }'),
    ];
    for (const op of ops) await op();
    const res = await fetch(`${s.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const e = parsePrometheus(await res.text());
    expect(e.types.get('tributary_upstream_calls_total')).toBe('counter');
    expect(e.types.get('tributary_upstream_call_duration_seconds')).toBe('histogram');

    let total = 0;
    for (const u of Object.values(s.sandbox.upstreams)) {
      const stats = u.stats();
      total += stats.total;
      expect(sum(e, 'tributary_upstream_calls_total', { upstream: u.name }), u.name).toBe(stats.total);
      expect(sum(e, 'tributary_upstream_call_duration_seconds_count', { upstream: u.name }), u.name).toBe(stats.total);
      const failed = stats.requests.filter((q) => q.status !== 200).length;
      const failedCounted = e.samples.filter((x) => x.name === 'tributary_upstream_calls_total' && x.labels.upstream === u.name && x.labels.outcome !== 'ok').reduce((a, x) => a + x.value, 0);
      expect(failedCounted, u.name).toBe(failed);
    }
    expect(total).toBeGreaterThan(15);
    // pricing: every 503 it answered was retried or given up on; retries counted per reason
    const pricing503 = s.sandbox.upstream('pricing').stats().requests.filter((q) => q.status === 503).length;
    expect(pricing503).toBeGreaterThan(0);
    expect(sum(e, 'tributary_upstream_calls_total', { upstream: 'pricing', outcome: 'UPSTREAM_ERROR' })).toBe(pricing503);
    expect(sum(e, 'tributary_upstream_retries_total', { upstream: 'pricing' })).toBeGreaterThan(0);
    expect(sum(e, 'tributary_upstream_retries_total', { upstream: 'pricing' })).toBeLessThanOrEqual(pricing503);

    expect(sum(e, 'tributary_graphql_requests_total', { operation: 'ProductPage' })).toBe(3);
    expect(sum(e, 'tributary_graphql_requests_total', { operation: 'CategoryPage' })).toBe(1);
    expect(sum(e, 'tributary_graphql_request_duration_seconds_count')).toBe(5);
    expect(sum(e, 'tributary_graphql_errors_total', { operation: 'Broken', code: 'GRAPHQL_VALIDATION_FAILED' })).toBe(1);
    // the third request repeated the first: its catalog product came from the memory cache
    expect(sum(e, 'tributary_cache_keys_total', { upstream: 'catalog', status: 'hit', store: 'memory' })).toBeGreaterThan(0);
    expect(sum(e, 'tributary_cache_keys_total', { upstream: 'catalog', endpoint: 'productById', status: 'miss' })).toBe(s.sandbox.upstream('catalog').stats().counts['GET /products/:id'] ?? 0);
    // one breaker-state series per upstream is 1
    for (const u of s.gateway.connector.upstreamNames) expect(sum(e, 'tributary_upstream_breaker_state', { upstream: u })).toBe(1);
  });
});

describe('/metrics resilience counters', () => {
  let s: Stack;
  const ZERO = { catalog: 0, pricing: 0, inventory: 0, reviews: 0, recommendations: 40, shipping: 0, tax: 0, accounts: 0 };
  beforeAll(async () => {
    s = await startStack({
      env: { CACHE: 'off' },
      sandbox: { latencyMs: ZERO, faults: { pricing: { error: { probability: 1, status: 503 } }, inventory: { drift: 'missing' } } },
      start: {
        policyOverrides: {
          // pricing always fails: two quick retries per call until the retry budget (10 per window) is spent
          pricing: { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 }, breaker: false, hedge: false },
          // one catalog call at a time, none waiting: concurrent calls beyond the first are rejected
          catalog: { maxConcurrency: 1, maxQueue: 0, hedge: false },
          // recommendations answers in 40 ms and is hedged after 5 ms: one hedge per call
          recommendations: { hedge: { delayMs: 5 } },
          inventory: { hedge: false },
        },
      },
    });
  });
  afterAll(() => s.close());

  const metrics = async () => parsePrometheus(await (await fetch(`${s.url}/metrics`)).text());
  const hedgedSeen = () => s.sandbox.upstream('recommendations').stats().requests.filter((q) => q.headers['x-tributary-hedge'] === '1').length;

  it('count exactly the hedges, bulkhead rejections, spent retry budgets and contract violations that happened', async () => {
    // Retry budget: 8 calls to pricing, one per request. The first 5 take 2 retries each (the budget's
    // floor of 10 per window); each of the other 3 is refused its first retry.
    for (let id = 1; id <= 8; id++) {
      const r = await s.gql(`{ product(id: "${id}") { id price { sale { amount } } } }`);
      expect(r.body.errors.map((e: any) => e.extensions.code)).toEqual(['UPSTREAM_ERROR']);
    }
    const pricingSeen = s.sandbox.upstream('pricing').stats().total;
    expect(pricingSeen).toBe(8 + 10);
    let e = await metrics();
    expect(sum(e, 'tributary_upstream_retries_total', { upstream: 'pricing' })).toBe(pricingSeen - 8);
    expect(sum(e, 'tributary_upstream_retry_budget_exhausted_total', { upstream: 'pricing', endpoint: 'pricesBySku' })).toBe(3);
    expect(sum(e, 'tributary_upstream_retry_budget_exhausted_total')).toBe(3);

    // Bulkhead: four products in one request are four concurrent catalog calls; one runs, three are rejected.
    s.resetStats();
    const crowd = await s.gql('{ a: product(id: "1") { id } b: product(id: "2") { id } c: product(id: "3") { id } d: product(id: "4") { id } }');
    expect(s.sandbox.upstream('catalog').stats().total).toBe(1);
    expect(Object.values(crowd.body.data).filter((p) => p === null)).toHaveLength(3);
    e = await metrics();
    expect(sum(e, 'tributary_upstream_bulkhead_rejections_total', { upstream: 'catalog', endpoint: 'productById' })).toBe(3);
    expect(sum(e, 'tributary_upstream_bulkhead_rejections_total')).toBe(3);

    // Hedges: three recommendation calls, each hedged once; the sandbox saw each hedge arrive.
    s.resetStats();
    for (let id = 1; id <= 3; id++) {
      const r = await s.gql(`{ product(id: "${id}") { id recommendations(first: 1) { id } } }`);
      expect(r.body.data.product.recommendations).toHaveLength(1);
    }
    expect(hedgedSeen()).toBe(3);
    e = await metrics();
    expect(sum(e, 'tributary_upstream_hedges_total', { upstream: 'recommendations', endpoint: 'forProduct' })).toBe(hedgedSeen());
    expect(sum(e, 'tributary_upstream_hedges_total')).toBe(3);

    // Contract violations: inventory drops `status` from every item; each of its 200 answers is one violation (enforced).
    s.resetStats();
    for (let id = 1; id <= 3; id++) {
      const r = await s.gql(`{ product(id: "${id}") { id availability { status } } }`);
      expect(r.body.errors.map((x: any) => x.extensions.code)).toEqual(['UPSTREAM_CONTRACT_VIOLATION']);
    }
    const drifted = s.sandbox.upstream('inventory').stats().requests.filter((q) => q.status === 200).length;
    expect(drifted).toBe(3);
    e = await metrics();
    expect(sum(e, 'tributary_upstream_contract_violations_total', { upstream: 'inventory', endpoint: 'stockBySku', mode: 'enforce' })).toBe(drifted);
    expect(sum(e, 'tributary_upstream_contract_violations_total')).toBe(3);
    // ...and nothing else moved: the earlier counters are where they were.
    expect(sum(e, 'tributary_upstream_retry_budget_exhausted_total')).toBe(3);
    expect(sum(e, 'tributary_upstream_bulkhead_rejections_total')).toBe(3);
    expect(sum(e, 'tributary_upstream_hedges_total')).toBe(3);
  });
});
