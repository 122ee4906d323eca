/**
 * Canary credentials: every upstream credential (and the gateway's own secrets) is set to a distinct
 * canary value, the sandbox accepts exactly those, and a representative traffic mix runs (every
 * operation, failures, retries, a rotated credential, contract drift, timeouts, debug-level bodies,
 * traces asked for on every request). Then every response body, every trace (JSON and HTML),
 * /metrics and the captured logs are searched: no canary, in any encoding, appears anywhere.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREDENTIAL_ENV } from '../sandbox/index.js';
import type { SandboxCredentials } from '../sandbox/types.js';
import { BASIC_PAIRS, CREDENTIAL_VARIABLES, DEFINITIONS, OAUTH_TOKEN_ROUTES, secretRefsOf } from './support/definitions.js';
import { signUserToken } from '../src/identity.js';
import { upstreams } from '../upstreams/index.js';
import type { Trace } from '../src/observability/index.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';
import { seen } from './support/observability.js';

const canary = (name: string) => `CANARY${name}${randomBytes(6).toString('hex')}`;
/** A canary for every credential the sandbox accepts (by key)... */
const creds: SandboxCredentials = Object.fromEntries(Object.keys(CREDENTIAL_ENV).map((k) => [k, canary(k)]));
/** ...and under the gateway's variable names, for every credential any definition (or sandbox upstream) declares. */
const credEnv: Record<string, string> = Object.fromEntries(CREDENTIAL_VARIABLES.map((v) => [v.env, v.sandboxKey !== undefined ? creds[v.sandboxKey]! : canary(v.env)]));
const rotatedAccountsToken = canary('rotatedAccounts');
const jwtSecret = canary('jwtSecretPaddingPaddingPadding');
const adminToken = canary('admin');

/** Every form a secret could take on the wire or in text. */
function forms(values: readonly string[]): string[] {
  const out = new Set<string>();
  for (const v of values) {
    out.add(v);
    out.add(encodeURIComponent(v));
    out.add(Buffer.from(v).toString('base64'));
  }
  const basic = (a: string, b: string) => Buffer.from(`${a}:${b}`).toString('base64');
  for (const [u, p] of BASIC_PAIRS) {
    out.add(basic(credEnv[u]!, credEnv[p]!));
    out.add(basic(encodeURIComponent(credEnv[u]!), encodeURIComponent(credEnv[p]!)));
  }
  return [...out];
}

describe('canary credentials', () => {
  let s: Stack;
  const captured: { what: string; text: string }[] = [];
  let userToken: string;

  beforeAll(async () => {
    const env: Record<string, string> = { LOG_LEVEL: 'debug', TRACE_BODIES: 'on', JWT_SECRET: jwtSecret, ADMIN_TOKEN: adminToken };
    // Every credential any definition declares gets its canary.
    expect(DEFINITIONS.flatMap((d) => secretRefsOf(d).map((r) => r.env)).filter((name) => !credEnv[name])).toEqual([]);
    Object.assign(env, credEnv);
    s = await startStack({
      env,
      sandbox: {
        credentials: creds,
        seed: 7,
        faults: {
          pricing: { error: { probability: 0.3, status: 503 } },
          inventory: { reset: { probability: 0.15 } },
          reviews: { drift: 'type' },
          catalog: { malformed: { probability: 0.05 } },
        },
      },
      start: { upstreamOverrides: { pricing: { ...upstreams.pricing, sensitiveParams: ['skus'] } } },
    });
    userToken = await signUserToken(jwtSecret, '1');
  });
  afterAll(() => s?.close());

  async function run(what: string, query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}) {
    const r = await s.gql(query, variables, { 'x-tributary-trace': '1', ...headers });
    captured.push({ what: `${what} (${r.status})`, text: r.text });
    for (const [k, v] of r.headers) captured.push({ what: `${what} header ${k}`, text: v });
    return r;
  }

  async function fetchText(what: string, path: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${s.url}${path}`, { headers });
    const text = await res.text();
    captured.push({ what: `${what} (${res.status})`, text });
    return { status: res.status, text };
  }

  it('runs the traffic mix', async () => {
    const auth = () => ({ authorization: `Bearer ${userToken}` });
    for (let id = 1; id <= 12; id++) await run(`ProductPage ${id}`, OPERATIONS.ProductPage, { id: String(id), country: 'US', postcode: '10001' }, id % 2 ? auth() : {});
    await run('ProductPage hostile id', OPERATIONS.ProductPage, { id: '../users/1', country: 'US', postcode: '10001' });
    for (const slug of ['beauty', 'groceries', 'no-such-category']) await run(`CategoryPage ${slug}`, OPERATIONS.CategoryPage, { slug, first: 4 });
    const lines = [{ productId: '1', quantity: 2 }, { productId: '5', quantity: 1 }];
    for (const country of ['US', 'GB', 'FR']) await run(`CheckoutQuote ${country}`, OPERATIONS.CheckoutQuote, { lines, country, postcode: '10001' }, auth());
    const viewer = await run('Viewer', OPERATIONS.Viewer, {}, auth());
    expect(viewer.body.data?.viewer?.id).toBe('1');
    await run('Viewer anonymous', OPERATIONS.Viewer, {});
    await run('timeout', OPERATIONS.ProductPage, { id: '20', country: 'US', postcode: '10001' }, { 'x-request-timeout-ms': '3' });
    await run('invalid', 'query { nope }', {});
    await run('syntax', 'query {', {});
    // a rotated credential: the gateway's is refused (401, one refresh, then an error)
    s.sandbox.upstream('accounts').setCredentials({ accountsToken: rotatedAccountsToken });
    const rotated = await run('Viewer after rotation', OPERATIONS.Viewer, {}, { authorization: `Bearer ${await signUserToken(jwtSecret, '2')}` }); // user 2: not cached
    expect(rotated.body.errors?.length).toBeGreaterThan(0);
    // shipping token revoked: the gateway fetches a new one
    s.sandbox.upstream('shipping').setCredentials({ shippingClientSecret: creds.shippingClientSecret });
    await run('CheckoutQuote after token revocation', OPERATIONS.CheckoutQuote, { lines, country: 'DE', postcode: '10115' }, auth());
    // an upstream down
    s.sandbox.upstream('recommendations').setFaults({ down: true });
    await run('ProductPage recommendations down', OPERATIONS.ProductPage, { id: '30', country: 'US', postcode: '10001' });

    await fetchText('healthz', '/healthz');
    await fetchText('readyz', '/readyz');
    await fetchText('404', '/nope');
    await fetchText('admin wrong token', '/admin/cache/invalidate', { authorization: 'Bearer wrong' });
    await fetchText('metrics', '/metrics');
    await fetchText('graphiql page', '/graphql', { accept: 'text/html' });
    const list = await fetchText('traces', '/traces');
    await fetchText('traces html', '/traces', { accept: 'text/html' });
    const traces = (JSON.parse(list.text) as { traces: { requestId: string }[] }).traces;
    expect(traces.length).toBeGreaterThanOrEqual(25);
    for (const t of traces) {
      await fetchText(`trace ${t.requestId}`, `/traces/${encodeURIComponent(t.requestId)}`);
      await fetchText(`trace html ${t.requestId}`, `/traces/${encodeURIComponent(t.requestId)}`, { accept: 'text/html' });
    }
    captured.push({ what: 'logs', text: s.logText() });

    // The mix did what it claims: retries, failures, debug bodies, contract violations, and the canaries were in use.
    const all = traces.map((t) => JSON.parse(captured.find((c) => c.what.startsWith(`trace ${t.requestId} `))!.text) as Trace);
    const calls = all.flatMap((t) => t.calls);
    expect(calls.some((c) => c.outcome === 'retried')).toBe(true);
    expect(calls.some((c) => c.outcome === 'error')).toBe(true);
    expect(calls.some((c) => c.contractViolation !== undefined)).toBe(true);
    expect(calls.some((c) => c.status === 401)).toBe(true);
    expect(calls.filter((c) => c.body !== undefined).length).toBeGreaterThan(10);
    expect(s.logs.some((l) => l.msg === 'upstream call failed')).toBe(true);
    const requests = seen(s.sandbox);
    const wire = JSON.stringify(requests.map((q) => q.headers));
    // Every upstream the mix reached was sent its own canary (raw, or inside Basic for a pair).
    const called = new Set(requests.map((q) => q.upstream));
    const inBasic = new Set(BASIC_PAIRS.flat());
    const reached = CREDENTIAL_VARIABLES.filter((v) => called.has(v.owner));
    expect(reached.length).toBeGreaterThan(5);
    for (const v of reached) if (!inBasic.has(v.env)) expect(wire, v.env).toContain(credEnv[v.env]);
    const pairsSent = BASIC_PAIRS.filter(([u]) => called.has(CREDENTIAL_VARIABLES.find((v) => v.env === u)!.owner));
    expect(pairsSent.length).toBeGreaterThan(0);
    for (const [u, p] of pairsSent) {
      const plain = Buffer.from(`${credEnv[u]}:${credEnv[p]}`).toString('base64');
      const encoded = Buffer.from(`${encodeURIComponent(credEnv[u]!)}:${encodeURIComponent(credEnv[p]!)}`).toString('base64');
      expect(wire.includes(plain) || wire.includes(encoded), `${u}:${p}`).toBe(true);
    }
  });

  it('finds no canary in any response body, trace, /metrics or log line', () => {
    // OAuth2 access tokens are credentials too: take them from what the sandbox saw (off the token route).
    const accessTokens = seen(s.sandbox)
      .filter((q) => OAUTH_TOKEN_ROUTES.some((o) => o.owner === q.upstream && `${q.method} ${q.path}` !== o.route))
      .map((q) => /^Bearer (.+)$/.exec(q.headers.authorization ?? '')?.[1])
      .filter((t): t is string => Boolean(t));
    expect(accessTokens.length).toBeGreaterThan(0);
    const needles = forms([...Object.values(creds), ...Object.values(credEnv), rotatedAccountsToken, jwtSecret, adminToken, ...accessTokens, userToken.split('.')[2]!]);
    expect(captured.length).toBeGreaterThan(100);
    const leaks: string[] = [];
    for (const { what, text } of captured) for (const n of needles) if (text.includes(n)) leaks.push(`${what} contains ${n.slice(0, 12)}...`);
    expect(leaks).toEqual([]);
    expect(captured.some((c) => c.text.includes('CANARY'))).toBe(false);
  });

  it('masks declared sensitive fields in debug bodies and declared sensitive parameters in paths', () => {
    const traces = captured.filter((c) => /^trace [^ ]+ \(200\)$/.test(c.what)).map((c) => JSON.parse(c.text) as Trace);
    const calls = traces.flatMap((t) => t.calls);
    const account = calls.find((c) => c.upstream === 'accounts' && c.status === 200 && c.body !== undefined);
    expect(account).toBeDefined();
    const body = account!.body as Record<string, unknown>;
    for (const f of ['password', 'ssn', 'bank', 'crypto', 'email', 'phone', 'address']) expect(body[f], f).toBe('[masked]');
    expect(body.firstName).toBeTypeOf('string');
    const review = calls.find((c) => c.upstream === 'reviews' && c.body !== undefined);
    expect(JSON.stringify(review!.body)).not.toMatch(/@x\.dummyjson\.com/);
    const prices = calls.filter((c) => c.upstream === 'pricing');
    expect(prices.length).toBeGreaterThan(0);
    for (const c of prices) expect(c.path).toMatch(/^\/v1\/prices\?skus=\[masked\]$/);
    // reviews and catalog (products embed their reviews) declare reviewerEmail sensitive: no body in any trace shows an email
    expect(calls.some((x) => x.upstream === 'catalog' && x.body !== undefined)).toBe(true);
    for (const c of calls.filter((x) => x.body !== undefined)) expect(JSON.stringify(c.body), `${c.upstream} body`).not.toMatch(/@x\.dummyjson\.com/);
  });
});
