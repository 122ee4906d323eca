/**
 * The pieces of observability on their own: traceparent parsing, masking, the bounded store, and
 * OpenTelemetry spans exported by a real SDK (sdk-trace-base with an in-memory exporter) when one is
 * registered.
 */
import { SpanKind, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstreams } from '../upstreams/index.js';
import type { UpstreamDef } from '../src/connector/index.js';
import { Masker, TraceStore, formatTraceparent, newSpanId, newTraceId, parseTraceparent, type Trace, type TraceRecord } from '../src/observability/index.js';
import { loadConfig } from '../src/config.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';
import { seen } from './support/observability.js';
import { eventually } from './support/wait.js';

describe('traceparent', () => {
  it('parses valid headers and refuses invalid ones', () => {
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', flags: '01' });
    // a future version may carry more fields
    expect(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra')?.flags).toBe('00');
    for (const bad of [
      undefined,
      '',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01',
      `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01${'x'.repeat(600)}`,
    ]) expect(parseTraceparent(bad), String(bad)).toBeNull();
  });

  it('makes distinct random ids of the right shape', () => {
    const ids = new Set(Array.from({ length: 2000 }, () => newSpanId()));
    expect(ids.size).toBe(2000);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(newTraceId()).toMatch(/^[0-9a-f]{32}$/);
    expect(formatTraceparent('a'.repeat(32), 'b'.repeat(16), '01')).toBe(`00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`);
  });
});

describe('Masker', () => {
  const defs = new Map<string, UpstreamDef>([
    ['pricing', { ...upstreams.pricing, sensitiveParams: ['skus'] } as UpstreamDef],
    ['accounts', upstreams.accounts as UpstreamDef],
  ]);
  const m = new Masker(defs);
  it('masks declared and default sensitive query parameters, nothing else', () => {
    expect(m.path('pricing', '/v1/prices?skus=A%2CB&x=1')).toBe('/v1/prices?skus=[masked]&x=1');
    expect(m.path('accounts', '/users/1?access_token=abc&Token=def&q=ok')).toBe('/users/1?access_token=[masked]&Token=[masked]&q=ok');
    expect(m.path('accounts', '/users/1')).toBe('/users/1');
    expect(m.path('unknown', '/x?api_key=1&b=2')).toBe('/x?api_key=[masked]&b=2');
  });
  it('masks declared body fields at any depth', () => {
    const body = { id: 1, password: 'p', nested: [{ ssn: 's', bank: { iban: 'x' }, firstName: 'A' }], token: 't' };
    expect(m.body('accounts', body)).toEqual({ id: 1, password: '[masked]', nested: [{ ssn: '[masked]', bank: '[masked]', firstName: 'A' }], token: '[masked]' });
    expect(body.password).toBe('p'); // the original is untouched
    expect(m.body('accounts', { big: 'x'.repeat(70_000) })).toEqual({ truncated: true, chars: 70_010 });
  });
});

describe('TraceStore', () => {
  const rec = (i: number): TraceRecord => ({
    requestId: `r${i}`, traceId: 't', operationName: i % 2 ? 'Odd' : 'Even', operationType: 'query', client: null, userId: null,
    startedAt: i, durationMs: i, status: i % 5 === 0 ? 400 : 200, aborted: false, errors: [], attempts: [], cacheEvents: [],
  });
  it('never holds more than its capacity and lists newest first with filters', () => {
    const s = new TraceStore(10);
    for (let i = 1; i <= 1000; i++) {
      s.add(rec(i));
      expect(s.size).toBe(Math.min(i, 10));
    }
    expect(s.list().map((r) => r.requestId)).toEqual(Array.from({ length: 10 }, (_, i) => `r${1000 - i}`));
    expect(s.get('r990')).toBeUndefined();
    expect(s.get('r991')?.requestId).toBe('r991');
    expect(s.list({ operation: 'Odd' }).map((r) => r.requestId)).toEqual(['r999', 'r997', 'r995', 'r993', 'r991']);
    expect(s.list({ status: 'error' }).map((r) => r.requestId)).toEqual(['r1000', 'r995']);
    expect(s.list({ status: 400 }).length).toBe(2);
    expect(s.list({ minDurationMs: 998, limit: 2 }).map((r) => r.requestId)).toEqual(['r1000', 'r999']);
    expect(() => new TraceStore(0)).toThrow(/at least 1/);
  });
});

describe('OpenTelemetry with an SDK registered', () => {
  const exporter = new InMemorySpanExporter();
  let s: Stack;
  beforeAll(async () => {
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    s = await startStack({ env: { HEDGING: 'off' } });
  });
  afterAll(async () => {
    await s?.close();
    trace.disable();
  });

  it('exports a server span in the client trace and one client span per upstream call, each propagated as the parent of what the upstream does', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    s.resetStats();
    const r = await s.gql(OPERATIONS.ProductPage, { id: '5', country: 'US', postcode: '10001' }, { traceparent: `00-${traceId}-b7ad6b7169203331-01`, 'x-tributary-trace': '1' });
    const t = r.body.extensions.trace as Trace;
    // The request span ends when the response is done, just after the client has read it.
    await eventually(() => exporter.getFinishedSpans().some((x) => x.kind === SpanKind.SERVER), 'the server span ended');
    const spans = exporter.getFinishedSpans();
    const server = spans.filter((x) => x.kind === SpanKind.SERVER);
    expect(server).toHaveLength(1);
    expect(server[0]!.name).toBe('query ProductPage');
    expect(server[0]!.spanContext().traceId).toBe(traceId);
    expect(server[0]!.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(server[0]!.attributes['tributary.request_id']).toBe(t.requestId);
    const clients = spans.filter((x) => x.kind === SpanKind.CLIENT);
    expect(clients.length).toBe(t.calls.length);
    expect(clients.map((c) => c.name).sort()).toEqual(t.calls.map((c) => `${c.upstream}.${c.endpoint}`).sort());
    for (const c of clients) {
      expect(c.spanContext().traceId).toBe(traceId);
      expect(c.parentSpanContext?.spanId).toBe(server[0]!.spanContext().spanId);
    }
    // each upstream saw its own client span as its parent
    const ids = new Set(clients.map((c) => c.spanContext().spanId));
    for (const q of seen(s.sandbox)) {
      const tp = parseTraceparent(q.headers.traceparent);
      expect(tp?.traceId).toBe(traceId);
      expect(ids.has(tp!.parentId)).toBe(true);
    }
  });
});

describe('configuration', () => {
  it('reads TRACES, TRACE_STORE_SIZE and TRACE_BODIES, and names a wrong one', () => {
    expect(loadConfig({}).traces).toEqual({ enabled: true, storeSize: 500, bodies: false });
    expect(loadConfig({ LOG_LEVEL: 'debug' }).traces.bodies).toBe(true);
    expect(loadConfig({ LOG_LEVEL: 'debug', TRACE_BODIES: 'off' }).traces.bodies).toBe(false);
    expect(loadConfig({ TRACES: 'off', TRACE_STORE_SIZE: '20' }).traces).toEqual({ enabled: false, storeSize: 20, bodies: false });
    expect(() => loadConfig({ TRACE_STORE_SIZE: '0' })).toThrow(/TRACE_STORE_SIZE must be an integer >= 1/);
    expect(() => loadConfig({ TRACES: 'yes' })).toThrow(/TRACES must be "on" or "off"/);
  });

  it('with TRACES=off keeps nothing, but still answers extensions.trace and propagates trace context', async () => {
    const s = await startStack({ env: { TRACES: 'off' } });
    try {
      const r = await s.gql(OPERATIONS.ProductPage, { id: '9', country: 'US', postcode: '10001' }, { 'x-tributary-trace': '1' });
      expect(r.body.extensions.trace.calls.length).toBeGreaterThan(0);
      const list = (await (await fetch(`${s.url}/traces`)).json()) as { size: number };
      expect(list.size).toBe(0);
      for (const q of seen(s.sandbox)) expect(q.headers.traceparent).toMatch(new RegExp(`^00-${r.body.extensions.trace.traceId}-`));
    } finally {
      await s.close();
    }
  });
});
