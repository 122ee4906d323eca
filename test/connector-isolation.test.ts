/**
 * What one caller does must not leak into another's call: a real Connector against real sandbox
 * servers, with upstream definitions written for the test.
 *
 * - Cross-request coalescing: requests that share one in-flight call each keep their own deadline and
 *   abort signal; the shared call is aborted only when every one of them has gone.
 * - The OAuth2 token fetch honours the deadline and abort signal of each call waiting for it, and a
 *   fetch shared by several calls outlives any one of them.
 * - A refused credential (401/403) is refreshed, but a non-idempotent call is still sent only once.
 * - An answer larger than its limit is not retried, and keeps its real HTTP status.
 * - An OAuth2 token is refreshed ahead of its expiry, without a refused call.
 *
 * Assertions are counts and orders (calls the upstream received, which caller settled first), never
 * durations. Latencies only set the stage (a call that is still running when a deadline passes).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SANDBOX_CREDENTIALS, startSandbox, type Sandbox } from '../sandbox/index.js';
import {
  Connector,
  MemoryStore,
  Telemetry,
  defineUpstream,
  singleEndpoint,
  withPolicy,
  type AttemptEvent,
  type UpstreamDef,
} from '../src/connector/index.js';
import { Cancel, delay } from '../src/connector/cancel.js';
import { shippingQuote } from '../sandbox/data.js';
import { products } from './support/expected.js';
import { eventually } from './support/wait.js';
import shippingUpstream from '../upstreams/shipping.js';
import { taxOrder } from './support/upstreams.js';

let sandbox: Sandbox;
let clock = Date.parse('2030-01-01T00:00:00Z');
const TOKEN_TTL_S = 300;

beforeAll(async () => {
  sandbox = await startSandbox({
    portBase: 0,
    seed: 11,
    only: ['catalog', 'shipping', 'tax'],
    latencyMs: { catalog: 0, shipping: 0, tax: 0 },
    shippingTokenTtlS: TOKEN_TTL_S,
    now: () => clock,
  });
});
afterAll(async () => {
  await sandbox?.close();
});
afterEach(() => {
  for (const u of Object.values(sandbox.upstreams)) {
    u.setFaults(null);
    u.setLatency(0);
    u.setCredentials(DEFAULT_SANDBOX_CREDENTIALS);
    u.resetStats();
  }
});

const connectors: Connector[] = [];
afterEach(async () => {
  await Promise.all(connectors.splice(0).map((c) => c.close()));
});

function connectorFor(defs: UpstreamDef[], opts: { cache?: MemoryStore | null; env?: NodeJS.ProcessEnv } = {}) {
  const telemetry = new Telemetry();
  const connector = new Connector({
    upstreams: defs,
    env: opts.env ?? {},
    baseUrls: sandbox.urls,
    sandboxMode: true,
    cache: opts.cache ?? null,
    telemetry,
    now: () => clock,
  });
  connectors.push(connector);
  const attempts: AttemptEvent[] = [];
  telemetry.on('attempt', (e) => attempts.push(e));
  /** A request: its own deadline (ms from now) and abort controller. */
  const request = (name: string, deadlineMs = 10_000, user: { id: string } | null = null) => {
    const abort = new AbortController();
    const scope = connector.scope({ requestId: name, user, deadline: performance.now() + deadlineMs, signal: abort.signal });
    return { scope, abort };
  };
  return { connector, telemetry, attempts, request };
}

/** Settle a promise into a label, in the order settlements happen. */
function record(order: string[], name: string, p: Promise<unknown>): Promise<void> {
  return p.then(
    (v) => void order.push(`${name}:${JSON.stringify(v)}`),
    (e: { code?: string; extensions?: { reason?: string } }) => void order.push(`${name}:${e.code}${e.extensions?.reason ? `/${e.extensions.reason}` : ''}`),
  );
}

const catalog = (opts: { scope?: 'public' | 'user'; attempts?: number; swr?: number } = {}) =>
  defineUpstream({
    name: 'catalog',
    baseUrlEnv: 'UPSTREAM_CATALOG_URL',
    auth: { scheme: 'none' },
    policy: { timeoutMs: 5_000, retry: { attempts: opts.attempts ?? 3, baseDelayMs: 1 }, breaker: false },
    endpoints: {
      byId: singleEndpoint({
        method: 'GET',
        request: (id: string, ctx) => ({ path: '/products/:id', params: { id }, query: opts.scope === 'user' ? { u: ctx.user?.id } : undefined }),
        response: Type.Object({ id: Type.Integer() }),
        map: (b) => b.id,
        cache: { ttlMs: 60_000, scope: opts.scope ?? 'public', staleWhileRevalidateMs: opts.swr },
      }),
    },
  });

describe('cross-request coalescing', () => {
  it('a request that disconnects leaves the shared call to the others: it alone is cancelled', async () => {
    const { request, telemetry } = connectorFor([catalog()], { cache: new MemoryStore({ maxEntries: 100 }) });
    sandbox.upstream('catalog').setLatency(100);
    const a = request('a');
    const b = request('b');
    // The moment b joins a's call, a's client goes away.
    telemetry.on('cache', (e) => e.status === 'coalesced' && a.abort.abort());
    const order: string[] = [];
    await Promise.all([record(order, 'a', a.scope.loader('catalog', 'byId').load('1')), record(order, 'b', b.scope.loader('catalog', 'byId').load('1'))]);
    expect(order).toEqual(['a:UPSTREAM_UNAVAILABLE/cancelled', 'b:1']);
    // One call, not aborted: it answered, for b.
    expect(sandbox.upstream('catalog').stats().requests.map((r) => r.status)).toEqual([200]);
  });

  it.each([
    ["a request with a short deadline times out alone; the shared call runs on for the others' deadlines", 50, 10_000, '2', ['a:UPSTREAM_TIMEOUT', 'b:2']],
    ['a request that joins with a shorter deadline than the call it shares gets its own UPSTREAM_TIMEOUT, first', 10_000, 50, '3', ['b:UPSTREAM_TIMEOUT', 'a:3']],
  ] as const)('%s', async (_name, deadlineA, deadlineB, key, expected) => {
    const { request } = connectorFor([catalog()], { cache: new MemoryStore({ maxEntries: 100 }) });
    sandbox.upstream('catalog').setLatency(400);
    const a = request('a', deadlineA);
    const b = request('b', deadlineB);
    const order: string[] = [];
    await Promise.all([record(order, 'a', a.scope.loader('catalog', 'byId').load(key)), record(order, 'b', b.scope.loader('catalog', 'byId').load(key))]);
    expect(order).toEqual(expected);
    // One call, sent once (not retried when the shorter deadline passed), answered.
    expect(sandbox.upstream('catalog').stats().requests.map((r) => r.status)).toEqual([200]);
  });

  it('when every request sharing a call has gone, the call is aborted and the next request starts its own', async () => {
    const { request } = connectorFor([catalog({ attempts: 1 })], { cache: new MemoryStore({ maxEntries: 100 }) });
    sandbox.upstream('catalog').setFaults({ hang: { probability: 1 } });
    const a = request('a');
    const b = request('b');
    const order: string[] = [];
    const done = Promise.all([record(order, 'a', a.scope.loader('catalog', 'byId').load('4')), record(order, 'b', b.scope.loader('catalog', 'byId').load('4'))]);
    await eventually(() => sandbox.upstream('catalog').stats().total === 1, 'the shared call to arrive');
    a.abort.abort();
    b.abort.abort();
    await done;
    expect(order).toEqual(['a:UPSTREAM_UNAVAILABLE/cancelled', 'b:UPSTREAM_UNAVAILABLE/cancelled']);
    // The upstream saw the call closed without an answer.
    await eventually(() => sandbox.upstream('catalog').stats().requests[0]!.end > 0, 'the aborted call to close');
    expect(sandbox.upstream('catalog').stats().requests.map((r) => r.status)).toEqual([0]);

    sandbox.upstream('catalog').setFaults(null);
    const c = request('c');
    expect(await c.scope.loader('catalog', 'byId').load('4')).toBe(4);
    expect(sandbox.upstream('catalog').stats().requests.map((r) => r.status)).toEqual([0, 200]);
  });

  it('a request whose client has already gone starts no call', async () => {
    const { request } = connectorFor([catalog()], { cache: new MemoryStore({ maxEntries: 100 }) });
    const a = request('a');
    a.abort.abort();
    const order: string[] = [];
    await record(order, 'a', a.scope.loader('catalog', 'byId').load('7'));
    expect(order).toEqual(['a:UPSTREAM_UNAVAILABLE/cancelled']);
    expect(sandbox.upstream('catalog').stats().total).toBe(0);
    // Nor is a call left behind for others to join: the next request makes its own (a miss, not coalesced).
    const b = request('b');
    expect(await b.scope.loader('catalog', 'byId').load('7')).toBe(7);
    expect(b.scope.cacheEvents.map((e) => e.status)).toEqual(['miss']);
    expect(sandbox.upstream('catalog').stats().requests.map((r) => r.status)).toEqual([200]);
  });

  it('only requests of the same cache scope share a call (user-scoped: one call per user)', async () => {
    const { request } = connectorFor([catalog({ scope: 'user' })], { cache: new MemoryStore({ maxEntries: 100 }) });
    sandbox.upstream('catalog').setLatency(50);
    const loads = [
      request('u1a', 10_000, { id: '1' }),
      request('u1b', 10_000, { id: '1' }),
      request('u2', 10_000, { id: '2' }),
    ].map((r) => r.scope.loader('catalog', 'byId').load('5'));
    expect(await Promise.all(loads)).toEqual([5, 5, 5]);
    expect(sandbox.upstream('catalog').stats().requests.map((r) => r.path).sort()).toEqual(['/products/5?u=1', '/products/5?u=2']);
  });

  it('a background refresh (stale-while-revalidate) is not aborted when a request that joined it leaves', async () => {
    const store = new MemoryStore({ maxEntries: 100 });
    const { request } = connectorFor([catalog({ swr: 1_000 })], { cache: store });
    expect(await request('warm').scope.loader('catalog', 'byId').load('6')).toBe(6);
    sandbox.upstream('catalog').setLatency(100);
    // Stale within the window: answered from the cache, refreshed in the background.
    clock += 60_500;
    expect(await request('stale').scope.loader('catalog', 'byId').load('6')).toBe(6);
    // Past the window: a miss, which joins the refresh already running; its client then goes away.
    clock += 1_000;
    const late = request('late');
    const order: string[] = [];
    const p = record(order, 'late', late.scope.loader('catalog', 'byId').load('6'));
    late.abort.abort();
    await p;
    expect(order).toEqual(['late:UPSTREAM_UNAVAILABLE/cancelled']);
    // The refresh carried on and stored its answer: the next request is a hit, with no new call.
    // The entry's key is `catalog:byId:<shape digest>:p:6`.
    const key = store.keys().find((k) => k.startsWith('catalog:byId:') && k.endsWith(':p:6'))!;
    expect(key).toBeDefined();
    await eventually(() => (store.getManySync([key])[0]?.freshUntil ?? 0) > clock, 'the refresh to be stored');
    expect(await request('after').scope.loader('catalog', 'byId').load('6')).toBe(6);
    expect(sandbox.upstream('catalog').stats().requests.map((r) => r.status)).toEqual([200, 200]);
  });
});

const shipping = (policy: { attempts?: number } = {}) =>
  defineUpstream({
    name: 'shipping',
    baseUrlEnv: 'UPSTREAM_SHIPPING_URL',
    auth: shippingUpstream.auth,
    policy: { timeoutMs: 5_000, retry: { attempts: policy.attempts ?? 3, baseDelayMs: 1 }, breaker: false },
    endpoints: {
      quote: singleEndpoint({
        method: 'POST',
        retrySafe: true,
        request: (sku: string) => ({ path: '/quotes', body: { country: 'US', postcode: '10001', items: [{ sku, quantity: 1 }] } }),
        response: Type.Object({ total: Type.Number() }),
        map: (b) => b.total,
      }),
    },
  });

const quoteOf = (sku: string) => shippingQuote([{ sku, quantity: 1 }]).total;

describe('the OAuth2 token fetch', () => {
  const [p1, p2] = [products[0]!, products[1]!];
  const tokenRoute = { routes: ['POST /oauth/token'] };
  /** Each token fetch, when it ends, joins the order of settlements. */
  const watchTokens = (telemetry: Telemetry, order: string[]) =>
    telemetry.on('attempt', (e) => e.endpoint === 'oauthToken' && order.push(`token:${e.status || e.error}`));

  it('a hanging token endpoint: each call ends at its own deadline; the shared fetch runs on, and the next call joins it', async () => {
    const { request, attempts } = connectorFor([shipping()]);
    sandbox.upstream('shipping').setFaults({ hang: { probability: 1 }, ...tokenRoute });
    const order: string[] = [];
    await record(order, 'a', request('a', 300).scope.loader('shipping', 'quote').load(p1.sku));
    // a gave up at its deadline while the token request was still open (it runs on its own limit).
    expect(sandbox.upstream('shipping').stats().requests.map((r) => [r.route, r.end])).toEqual([['POST /oauth/token', 0]]);
    await record(order, 'b', request('b', 300).scope.loader('shipping', 'quote').load(p2.sku));
    expect(order).toEqual(['a:UPSTREAM_TIMEOUT', 'b:UPSTREAM_TIMEOUT']);
    // b joined the fetch already running instead of starting another; no quote was sent for either.
    expect(sandbox.upstream('shipping').stats().requests.map((r) => [r.route, r.end])).toEqual([['POST /oauth/token', 0]]);
    // Each call's one attempt timed out waiting for the token, and was not retried past its deadline.
    expect(attempts.map((e) => [e.endpoint, e.error])).toEqual([
      ['quote', 'UPSTREAM_TIMEOUT'],
      ['quote', 'UPSTREAM_TIMEOUT'],
    ]);

    // The token endpoint comes back (the hung request is dropped): the next call fetches a token.
    await sandbox.upstream('shipping').stop();
    sandbox.upstream('shipping').setFaults(null);
    await sandbox.upstream('shipping').start();
    await eventually(() => attempts.some((e) => e.endpoint === 'oauthToken'), 'the hung token fetch to end');
    expect(await request('c').scope.loader('shipping', 'quote').load(p1.sku)).toBe(quoteOf(p1.sku));
    expect(sandbox.upstream('shipping').stats().requests.map((r) => [r.route, r.status])).toEqual([
      ['POST /oauth/token', 0],
      ['POST /oauth/token', 200],
      ['POST /quotes', 200],
    ]);
  });

  it('a token endpoint slower than one attempt: the retry joins the fetch the first attempt left, and gets its token', async () => {
    const { request } = connectorFor([withPolicy(shipping(), { timeoutMs: 300 })]);
    sandbox.upstream('shipping').setFaults({ latencyMs: 450, ...tokenRoute });
    expect(await request('a').scope.loader('shipping', 'quote').load(p1.sku)).toBe(quoteOf(p1.sku));
    expect(sandbox.upstream('shipping').stats().requests.map((r) => [r.route, r.status])).toEqual([
      ['POST /oauth/token', 200],
      ['POST /quotes', 200],
    ]);
  });

  it('a fetch shared by two calls: the one whose deadline passes leaves at once, the other gets the token and its answer', async () => {
    const { request, telemetry } = connectorFor([shipping()]);
    sandbox.upstream('shipping').setFaults({ latencyMs: 400, ...tokenRoute });
    const order: string[] = [];
    watchTokens(telemetry, order);
    await Promise.all([
      record(order, 'a', request('a', 100).scope.loader('shipping', 'quote').load(p1.sku)),
      record(order, 'b', request('b', 10_000).scope.loader('shipping', 'quote').load(p2.sku)),
    ]);
    expect(order).toEqual(['a:UPSTREAM_TIMEOUT', 'token:200', `b:${quoteOf(p2.sku)}`]);
    // One token fetch, not aborted by a leaving; one quote, b's.
    expect(sandbox.upstream('shipping').stats().requests.map((r) => [r.route, r.status])).toEqual([
      ['POST /oauth/token', 200],
      ['POST /quotes', 200],
    ]);
  });

  it('a fetch shared by two calls: the one whose client goes away is cancelled at once, the other carries on', async () => {
    const { request, telemetry } = connectorFor([shipping()]);
    sandbox.upstream('shipping').setFaults({ latencyMs: 300, ...tokenRoute });
    const order: string[] = [];
    watchTokens(telemetry, order);
    const a = request('a');
    const done = Promise.all([
      record(order, 'a', a.scope.loader('shipping', 'quote').load(p1.sku)),
      record(order, 'b', request('b').scope.loader('shipping', 'quote').load(p2.sku)),
    ]);
    await eventually(() => sandbox.upstream('shipping').stats().total === 1, 'the token request to arrive');
    a.abort.abort();
    await done;
    expect(order).toEqual(['a:UPSTREAM_UNAVAILABLE/cancelled', 'token:200', `b:${quoteOf(p2.sku)}`]);
    expect(sandbox.upstream('shipping').stats().requests.map((r) => [r.route, r.status])).toEqual([
      ['POST /oauth/token', 200],
      ['POST /quotes', 200],
    ]);
  });
});

describe('a refused credential (401)', () => {
  const basic = (password: string) => `Basic ${Buffer.from(`sandbox-tax:${password}`).toString('base64')}`;
  /** The tax password in a mounted secret file, rotated on the upstream and in the file together. */
  const rotatable = () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tributary-tax-')), 'password');
    writeFileSync(file, 'tax-v1\n');
    sandbox.upstream('tax').setCredentials({ taxPassword: 'tax-v1' });
    return {
      env: { TAX_PASSWORD_FILE: file },
      rotate: () => {
        sandbox.upstream('tax').setCredentials({ taxPassword: 'tax-v2' });
        writeFileSync(file, 'tax-v2\n');
      },
    };
  };
  const sent = () => sandbox.upstream('tax').stats().requests.map((r) => [r.status, r.headers.authorization]);

  it('a POST without a safe declaration is sent once: the credential is refreshed, and the next call uses it', async () => {
    const secret = rotatable();
    const { request } = connectorFor([taxOrder(false, 2_000)], { env: secret.env });
    expect(await request('a').scope.loader('tax', 'quote').load(100)).toBe(7.25);
    secret.rotate();
    await expect(request('b').scope.loader('tax', 'quote').load(200)).rejects.toMatchObject({ code: 'UPSTREAM_UNAUTHORIZED', upstream: 'tax' });
    expect(sent()).toEqual([
      [200, basic('tax-v1')],
      [401, basic('tax-v1')],
    ]);
    expect(await request('c').scope.loader('tax', 'quote').load(300)).toBe(21.75);
    expect(sent()).toEqual([
      [200, basic('tax-v1')],
      [401, basic('tax-v1')],
      [200, basic('tax-v2')],
    ]);
  });

  it('the same POST declared retry-safe is sent again once, with the refreshed credential', async () => {
    const secret = rotatable();
    const { request } = connectorFor([taxOrder(true, 2_000)], { env: secret.env });
    expect(await request('a').scope.loader('tax', 'quote').load(100)).toBe(7.25);
    secret.rotate();
    expect(await request('b').scope.loader('tax', 'quote').load(200)).toBe(14.5);
    expect(sent()).toEqual([
      [200, basic('tax-v1')],
      [401, basic('tax-v1')],
      [200, basic('tax-v2')],
    ]);
  });
});

describe('an answer larger than its limit', () => {
  const LIMIT = 200; // bytes; every product is larger
  const oversized = (breaker: false | { minimumCalls: number }) =>
    withPolicy(catalog(), { maxResponseBytes: LIMIT, breaker: breaker && { ...breaker, failureRatio: 0.5, windowMs: 30_000, halfOpenAfterMs: 60_000 } });

  it('is not retried (it would be as large again), and its attempt keeps the real HTTP status', async () => {
    const { request, attempts } = connectorFor([oversized(false)]);
    const err = await request('a').scope.loader('catalog', 'byId').load('1').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UPSTREAM_ERROR', upstream: 'catalog', message: expect.stringMatching(/larger than its limit/) });
    expect(sandbox.upstream('catalog').stats().requests.map((r) => r.path)).toEqual(['/products/1']);
    expect(attempts.map((e) => [e.attempt, e.status, e.error])).toEqual([[1, 200, 'UPSTREAM_ERROR']]);
    expect(attempts[0]!.bytes).toBeLessThanOrEqual(LIMIT);
  });

  it('counts against the breaker (the upstream answers outside its contract): enough of them open it', async () => {
    const { connector, request } = connectorFor([oversized({ minimumCalls: 3 })]);
    for (const id of ['1', '2', '3']) {
      await expect(request(id).scope.loader('catalog', 'byId').load(id)).rejects.toMatchObject({ code: 'UPSTREAM_ERROR' });
    }
    expect(connector.breakerState('catalog')).toBe('open');
    await expect(request('4').scope.loader('catalog', 'byId').load('4')).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', extensions: { reason: 'breaker' } });
    // One call each for the first three (none retried); none once the breaker is open.
    expect(sandbox.upstream('catalog').stats().requests.map((r) => r.path)).toEqual(['/products/1', '/products/2', '/products/3']);
  });
});

describe('OAuth2 refresh ahead of expiry', () => {
  it('the token is replaced at 80% of its lifetime, before the upstream would refuse it: no call is refused', async () => {
    const { request } = connectorFor([shipping()]);
    const quote = (name: string) => request(name).scope.loader('shipping', 'quote').load(products[0]!.sku);
    const sent = () => sandbox.upstream('shipping').stats().requests.map((r) => `${r.route} ${r.status}`);
    const bearer = () => sandbox.upstream('shipping').stats().requests.filter((r) => r.route === 'POST /quotes').map((r) => r.headers.authorization);

    expect(await quote('first')).toBe(quoteOf(products[0]!.sku));
    // Just before the refresh point (240 s of 300 s), the token in hand is used.
    clock += 0.8 * TOKEN_TTL_S * 1000 - 1;
    expect(await quote('before')).toBe(quoteOf(products[0]!.sku));
    expect(sent()).toEqual(['POST /oauth/token 200', 'POST /quotes 200', 'POST /quotes 200']);
    // At it, a new token is fetched first, while the old one would still be accepted (it expires at 300 s).
    clock += 1;
    expect(await quote('at')).toBe(quoteOf(products[0]!.sku));
    expect(sent()).toEqual(['POST /oauth/token 200', 'POST /quotes 200', 'POST /quotes 200', 'POST /oauth/token 200', 'POST /quotes 200']);
    const [t1, t1again, t2] = bearer();
    expect(t1again).toBe(t1);
    expect(t2).not.toBe(t1);
  });
});

describe('the connector’s cancellation token', () => {
  it('runs every callback once, in order, and not the ones taken back; a late `on` is not called', () => {
    const c = new Cancel();
    const seen: string[] = [];
    const a = () => seen.push('a');
    const b = () => seen.push('b');
    c.on(a);
    c.on(b);
    c.on(() => seen.push('c'));
    c.off(b);
    c.abort();
    c.abort();
    c.on(() => seen.push('late'));
    expect(seen).toEqual(['a', 'c']);
    expect(c.aborted).toBe(true);
  });

  it('a callback that throws does not stop the others, nor the caller of abort; the error is raised on its own', async () => {
    const c = new Cancel();
    const seen: string[] = [];
    c.on(() => {
      throw new Error('first');
    });
    c.on(() => seen.push('second'));
    const raised = new Promise<unknown>((resolve) => {
      const listeners = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      process.once('uncaughtException', (e) => {
        for (const l of listeners) process.on('uncaughtException', l);
        resolve(e);
      });
    });
    expect(() => c.abort()).not.toThrow();
    expect(seen).toEqual(['second']);
    expect(((await raised) as Error).message).toBe('first');
  });

  it('follows an AbortSignal: aborted with it, or at once when it already was; a token is followed as itself', () => {
    const ac = new AbortController();
    const c = Cancel.follow(ac.signal)!;
    expect(c.aborted).toBe(false);
    ac.abort();
    expect(c.aborted).toBe(true);
    expect(Cancel.follow(AbortSignal.abort())!.aborted).toBe(true);
    expect(Cancel.follow(c)).toBe(c);
    expect(Cancel.follow(undefined)).toBeUndefined();
  });

  it('a delay ends with its reason when the token aborts, and leaves no callback behind when it elapses', async () => {
    const c = new Cancel();
    const waiting = delay(60_000, c, () => new Error('gone'));
    c.abort();
    await expect(waiting).rejects.toThrow('gone');
    await expect(delay(1, new Cancel(), () => 'never')).resolves.toBeUndefined();
    const kept = new Cancel();
    await delay(1, kept, () => 'never');
    expect((kept as unknown as { listeners: unknown[] | null }).listeners).toEqual([]);
    await expect(delay(1, kept.abort() ?? kept, () => new Error('already'))).rejects.toThrow('already');
  });
});
