/**
 * Who may see traces in production: `extensions.trace` only for a client with the `trace`
 * permission, `/traces` only with the admin token; `/metrics` is served to scrapers (behind
 * `METRICS_TOKEN` when it is set). In production
 * nothing is given to a client without the permission, whatever it sends.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS, post, startStack, type Stack } from './support/stack.js';

const WEB_KEY = 'web-key-for-tests-0123456789';
const PARTNER_KEY = 'partner-key-for-tests-0123456789';
const ADMIN = 'admin-token-for-tests-0123456789';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('observability in production', () => {
  let gw: Stack;
  beforeAll(async () => {
    gw = await startStack({
      env: {
        NODE_ENV: 'production',
        JWT_SECRET: 'production-test-secret-0123456789abcdef',
        ADMIN_TOKEN: ADMIN,
        LOG_LEVEL: 'warn',
        CLIENTS: JSON.stringify([
          { name: 'web', keySha256: sha(WEB_KEY), permissions: ['trace'], operations: 'any' },
          { name: 'partner', keySha256: sha(PARTNER_KEY), permissions: [], operations: 'any' },
        ]),
      },
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  const ask = (key: string, id: string, extra: Record<string, string> = {}) =>
    post(gw.url, { query: OPERATIONS.ProductPage, variables: { id, country: 'US', postcode: '10001' } }, { 'x-api-key': key, 'x-tributary-trace': '1', ...extra });

  it('gives extensions.trace only to a client with the trace permission', async () => {
    const partner = await ask(PARTNER_KEY, '1', { 'x-request-id': 'prod-partner' });
    expect(partner.status).toBe(200);
    expect(partner.body.data.product.id).toBe('1');
    expect(partner.body.extensions?.trace).toBeUndefined();
    const web = await ask(WEB_KEY, '2', { 'x-request-id': 'prod-web' });
    expect(web.body.extensions.trace.client).toBe('web');
    expect(web.body.extensions.trace.requestId).toBe('prod-web');
    expect(web.body.extensions.trace.calls.length).toBeGreaterThan(0);
  });

  it('serves /traces only with the admin token, and /metrics to scrapers', async () => {
    for (const path of ['/traces', '/traces/prod-web']) {
      expect((await fetch(`${gw.url}${path}`)).status, path).toBe(404);
      expect((await fetch(`${gw.url}${path}`, { headers: { authorization: 'Bearer wrong' } })).status, path).toBe(404);
      expect((await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } })).status, path).toBe(200);
    }
    const list = (await (await fetch(`${gw.url}/traces`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { traces: { requestId: string }[] };
    expect(list.traces.map((t) => t.requestId)).toEqual(['prod-web', 'prod-partner']);
    const metrics = await fetch(`${gw.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('tributary_graphql_requests_total{operation="ProductPage",type="query",outcome="ok"} 2');
  });
});

describe('/metrics with METRICS_TOKEN', () => {
  let gw: Stack;
  const TOKEN = 'metrics-token-for-tests-0123456789';
  beforeAll(async () => {
    gw = await startStack({ env: { NODE_ENV: 'production', JWT_SECRET: 'production-test-secret-0123456789abcdef', METRICS_TOKEN: TOKEN, LOG_LEVEL: 'warn' } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('answers 401 without the token or with a wrong one, and the Prometheus text with it', async () => {
    const refused: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: TOKEN }];
    for (const headers of refused) {
      const res = await fetch(`${gw.url}/metrics`, { headers });
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
      expect(body.errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
    }
    const ok = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toContain('text/plain');
    expect(await ok.text()).toContain('# TYPE tributary_upstream_calls_total counter');
  });
});
