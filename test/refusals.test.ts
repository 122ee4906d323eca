/**
 * Requests answered before GraphQL runs explain themselves like any other, through real HTTP: a 401
 * (no key, unknown key), a 429, a 413 (by Content-Length, by a chunked JSON body, by a chunked
 * non-JSON body) and a 403 (CSRF) each carry the request id in the error's extensions, write the
 * request log line (request id, status, error code, client when known, never the key), keep a trace,
 * and are counted in /metrics with the outcome `refused`; so is a 503 when identification itself fails.
 * And the request id itself: a well-formed
 * `x-request-id` is echoed, a malformed one is replaced by a generated one.
 */
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { buildSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { Connector, Telemetry } from '../src/connector/index.js';
import { createLogger } from '../src/logging.js';
import { createGatewayServer, REQUEST_ID } from '../src/server.js';
import { hashApiKey } from '../src/security/index.js';
import { createObservability, type Trace } from '../src/observability/index.js';
import { parsePrometheus, sum } from './support/observability.js';
import { post, startStack, type GqlResponse, type Stack } from './support/stack.js';

const KEYS = { web: 'web-key-refusals-0001', limited: 'limited-key-refusals-0001' };
const WRONG_KEY = 'wrong-key-refusals-SECRET-0001';
const CLIENTS = JSON.stringify([
  { name: 'web', keySha256: hashApiKey(KEYS.web), permissions: [], operations: 'any' },
  { name: 'limited', keySha256: hashApiKey(KEYS.limited), permissions: [], operations: 'any', rateLimit: { requests: 1, perSeconds: 3600 } },
]);
const MAX_BODY = 4096;
const WEB = { 'x-api-key': KEYS.web };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { CLIENTS, MAX_BODY_BYTES: String(MAX_BODY), CACHE: 'off' } });
});
afterAll(async () => {
  await stack?.close();
});

/** A body sent chunked (no Content-Length), in 1 KB pieces. */
function chunked(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(c) {
      for (let i = 0; i < bytes.length; i += 1024) c.enqueue(bytes.subarray(i, i + 1024));
      c.close();
    },
  });
}

async function send(path: string, init: RequestInit & { headers: Record<string, string> }): Promise<GqlResponse> {
  const res = await fetch(`${stack.url}${path}`, { duplex: 'half', ...init } as RequestInit);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: JSON.parse(text) };
}

const big = JSON.stringify({ query: '{ apiVersion }', variables: { pad: 'x'.repeat(MAX_BODY * 2) } });

/** Each refusal: what is sent, and what it must answer. */
const REFUSALS: { id: string; status: number; code: string; client?: string; send: () => Promise<GqlResponse> }[] = [
  { id: 'refused-401-none', status: 401, code: 'UNAUTHENTICATED', send: () => stack.gql('{ apiVersion }', {}, { 'x-request-id': 'refused-401-none' }) },
  { id: 'refused-401-wrong', status: 401, code: 'UNAUTHENTICATED', send: () => stack.gql('{ apiVersion }', {}, { 'x-request-id': 'refused-401-wrong', 'x-api-key': WRONG_KEY }) },
  {
    id: 'refused-429',
    status: 429,
    code: 'RATE_LIMITED',
    client: 'limited',
    send: () => stack.gql('{ apiVersion }', {}, { 'x-request-id': 'refused-429', 'x-api-key': KEYS.limited, traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` }),
  },
  { id: 'refused-413-declared', status: 413, code: 'PAYLOAD_TOO_LARGE', send: () => post(stack.url, big, { ...WEB, 'x-request-id': 'refused-413-declared' }) },
  {
    id: 'refused-413-chunked',
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    client: 'web',
    send: () => send('/graphql', { method: 'POST', headers: { ...WEB, 'content-type': 'application/json', 'x-request-id': 'refused-413-chunked' }, body: chunked(big) }),
  },
  {
    // Not JSON: read by yoga's parser under the hardening plugin's limit.
    id: 'refused-413-form',
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    client: 'web',
    send: () =>
      send('/graphql', {
        method: 'POST',
        headers: { ...WEB, 'content-type': 'application/x-www-form-urlencoded', 'x-graphql-csrf': '1', 'x-request-id': 'refused-413-form' },
        body: chunked(`query=${encodeURIComponent(`{ apiVersion } # ${'x'.repeat(MAX_BODY * 2)}`)}`),
      }),
  },
  {
    id: 'refused-403-get',
    status: 403,
    code: 'CSRF_PREVENTED',
    client: 'web',
    send: () => send(`/graphql?query=${encodeURIComponent('{ apiVersion }')}`, { method: 'GET', headers: { ...WEB, 'x-request-id': 'refused-403-get' } }),
  },
  {
    id: 'refused-403-form',
    status: 403,
    code: 'CSRF_PREVENTED',
    client: 'web',
    send: () => send('/graphql', { method: 'POST', headers: { ...WEB, 'content-type': 'text/plain', 'x-request-id': 'refused-403-form' }, body: JSON.stringify({ query: '{ apiVersion }' }) }),
  },
];

describe('requests refused before GraphQL runs', () => {
  it('each carries its request id, writes the request log line, keeps a trace, and is counted as refused', async () => {
    stack.resetStats();
    const allowed = await stack.gql('{ apiVersion }', {}, { 'x-api-key': KEYS.limited, 'x-request-id': 'limited-ok' }); // the one request `limited` may make
    expect(allowed.status).toBe(200);

    for (const r of REFUSALS) {
      const res = await r.send();
      expect(res.status, r.id).toBe(r.status);
      expect(res.headers.get('x-request-id'), r.id).toBe(r.id);
      expect(res.body.errors, r.id).toHaveLength(1);
      expect(res.body.errors[0].extensions, r.id).toEqual({ code: r.code, requestId: r.id });

      const line = await stack.requestLog(r.id);
      expect(line, r.id).toMatchObject({ status: r.status, errors: [r.code], upstreamCalls: 0 });
      expect(line.client, r.id).toBe(r.client);

      const trace = (await (await fetch(`${stack.url}/traces/${r.id}`)).json()) as Trace;
      expect([trace.requestId, trace.status, trace.outcome, trace.errors.map((e) => e.code)], r.id).toEqual([r.id, r.status, 'error', [r.code]]);
      expect(trace.calls, r.id).toEqual([]);
    }
    // The 429 names its client and keeps the client's trace id, in the log line and the trace.
    expect((await stack.requestLog('refused-429')).traceId).toBe(TRACE_ID);
    expect(((await (await fetch(`${stack.url}/traces/refused-429`)).json()) as Trace).traceId).toBe(TRACE_ID);
    // No key ever reaches a log line.
    for (const key of [WRONG_KEY, KEYS.web, KEYS.limited]) expect(stack.logText()).not.toContain(key);
    // None reached an upstream.
    expect(Object.values(stack.sandbox.upstreams).reduce((n, u) => n + u.stats().total, 0)).toBe(0);

    const e = parsePrometheus(await (await fetch(`${stack.url}/metrics`)).text());
    expect(sum(e, 'tributary_graphql_requests_total', { outcome: 'refused' })).toBe(REFUSALS.length);
    expect(sum(e, 'tributary_graphql_requests_total', { operation: '(unknown)', type: 'unknown', outcome: 'refused' })).toBe(REFUSALS.length);
    expect(sum(e, 'tributary_graphql_request_duration_seconds_count', { outcome: 'refused' })).toBe(REFUSALS.length);
    expect(sum(e, 'tributary_graphql_requests_total', { outcome: 'ok' })).toBe(1);
    expect(sum(e, 'tributary_graphql_requests_total', { outcome: 'error' })).toBe(0);
    const byCode = (code: string) => sum(e, 'tributary_graphql_errors_total', { code });
    expect(['UNAUTHENTICATED', 'RATE_LIMITED', 'PAYLOAD_TOO_LARGE', 'CSRF_PREVENTED'].map(byCode)).toEqual([2, 1, 3, 2]);
  });
});

describe('x-request-id', () => {
  it('echoes a well-formed id, and replaces a malformed one with a generated id everywhere', async () => {
    const wellFormed = ['abc-123_X.y:z', 'a'.repeat(128)];
    for (const id of wellFormed) {
      expect(REQUEST_ID.test(id)).toBe(true);
      const r = await stack.gql('{ nope }', {}, { ...WEB, 'x-request-id': id });
      expect(r.headers.get('x-request-id')).toBe(id);
      expect(r.body.errors[0].extensions.requestId).toBe(id);
      expect((await stack.requestLog(id)).status).toBe(400);
    }
    const malformed = ['has spaces', 'tab\there', 'a'.repeat(129), 'x'.repeat(200), 'a%0d%0aX-Injected: 1', 'quote"semi;colon', '<script>', 'ünïcode'];
    const generated = new Set<string>();
    for (const id of malformed) {
      const r = await stack.gql('{ nope }', {}, { ...WEB, 'x-request-id': id });
      const given = r.headers.get('x-request-id')!;
      expect(given, id).toMatch(UUID);
      expect(r.body.errors[0].extensions.requestId, id).toBe(given);
      expect((await stack.requestLog(given)).status, id).toBe(400);
      generated.add(given);
    }
    expect(generated.size).toBe(malformed.length);
    // No malformed id reached a log line.
    for (const id of malformed) expect(stack.logText(), id).not.toContain(id);
  });

  it('a raw CR or LF in the header never reaches the gateway: Node refuses the request with 400', async () => {
    const { port } = new URL(stack.url);
    const before = stack.logs.length;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write('POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-request-id: ab\rX-Injected: 1\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}'),
      );
      let data = '';
      socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => resolve(data));
    });
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    expect(stack.logs.length).toBe(before);
  });
});

describe('a client that cannot be identified', () => {
  it('is answered 503 with Retry-After, and logged, traced and counted like every refusal', async () => {
    // The composed gateway's shared limiter falls back to local counting rather than fail, so this
    // path is reached here through the server's identification hook: a gateway server whose
    // identification rejects, with the real observability wired in as the composition root does.
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (lines.push(...String(c).split('\n').filter(Boolean).map((l) => JSON.parse(l))), cb()) }) });
    const config = loadConfig({ NODE_ENV: 'test' });
    const telemetry = new Telemetry();
    const connector = new Connector({ upstreams: [], env: {}, sandboxMode: true, cache: null, telemetry });
    const obs = createObservability({ config, connector, telemetry });
    const server = createGatewayServer({
      schema: buildSchema('type Query { apiVersion: String }'),
      connector,
      config,
      logger,
      authenticate: async () => null,
      extendContext: () => ({}),
      identifyClient: () => Promise.reject(new Error('the shared limiter is gone')),
      plugins: [obs.plugin],
      routes: obs.routes,
      onRequestEnd: obs.onRequestEnd,
    });
    const url = await server.listen(0, '127.0.0.1');
    try {
      const r = await post(url, { query: '{ apiVersion }' }, { 'x-request-id': 'refused-503' });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.body.errors[0].extensions).toEqual({ code: 'UNAVAILABLE', requestId: 'refused-503' });
      const trace = (await (await fetch(`${url}/traces/refused-503`)).json()) as Trace;
      expect([trace.status, trace.errors.map((e) => e.code)]).toEqual([503, ['UNAVAILABLE']]);
      expect(lines.filter((l) => l.msg === 'graphql request').map((l) => [l.requestId, l.status, l.errors])).toEqual([['refused-503', 503, ['UNAVAILABLE']]]);
      const e = parsePrometheus(await (await fetch(`${url}/metrics`)).text());
      expect(sum(e, 'tributary_graphql_requests_total', { operation: '(unknown)', outcome: 'refused' })).toBe(1);
      expect(sum(e, 'tributary_graphql_errors_total', { code: 'UNAVAILABLE' })).toBe(1);
    } finally {
      await server.close();
      obs.close();
      await connector.close();
    }
  });
});
