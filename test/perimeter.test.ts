/**
 * The perimeter map (`npm run perimeter`, `GET /admin/perimeter`): derived by running every field
 * against a real in-process sandbox; compared here with the composed schema itself, field by field.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isInputObjectType, isInterfaceType, isObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeGatewaySchema, derivePerimeterMap } from '../src/main.js';
import type { PerimeterMap } from '../src/perimeter/index.js';
import { DEFAULT_SANDBOX_CREDENTIALS } from '../sandbox/index.js';
import { describeClients, hashApiKey } from '../src/security/clients.js';
import { fieldsWithDirective } from '../src/security/field-access.js';
import { startStack, type Stack } from './support/stack.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let map: PerimeterMap;

/** Every field of the composed schema, straight from graphql-js. */
function schemaFields(): string[] {
  const schema = composeGatewaySchema();
  const out: string[] = [];
  for (const t of Object.values(schema.getTypeMap())) {
    if (t.name.startsWith('__')) continue;
    if (isObjectType(t) || isInterfaceType(t) || isInputObjectType(t)) for (const f of Object.keys(t.getFields())) out.push(`${t.name}.${f}`);
  }
  return out.sort();
}

const field = (c: string) => map.fields.find((f) => f.coordinate === c)!;

beforeAll(async () => {
  map = await derivePerimeterMap();
});

describe('perimeter map', () => {
  it('lists every field of the composed schema, once', () => {
    const listed = map.fields.map((f) => f.coordinate);
    expect([...listed].sort()).toEqual(schemaFields());
    expect(new Set(listed).size).toBe(listed.length);
    expect(map.summary.fields).toBe(listed.length);
  });

  it('probed every output field, and every upstream call it made is explained by a field', () => {
    expect(map.fields.filter((f) => !f.probed).map((f) => f.coordinate)).toEqual([]);
    expect(map.summary.upstreamCalls).toBeGreaterThan(0);
    expect(map.summary.unattributed).toBe(0);
    // Every upstream is reached by some field; endpoints the probe's selections did not take are listed.
    const reached = new Set(map.fields.flatMap((f) => f.endpoints));
    expect(map.summary.unreachedEndpoints).toEqual(map.endpoints.filter((e) => !reached.has(e.id)).map((e) => e.id));
    expect(new Set([...reached].map((id) => id.split('.')[0]))).toEqual(new Set(map.endpoints.map((e) => e.upstream)));
    // The shipping upstream's OAuth2 token request is credential traffic, not a field's endpoint.
    expect(map.summary.credentialCalls).toBeGreaterThanOrEqual(0);
  });

  it('maps fields to the endpoints their resolvers load, or their parent came from', () => {
    expect(field('Product.price')).toMatchObject({ endpoints: ['pricing.pricesBySku'], via: 'resolver' });
    expect(field('Price.sale')).toMatchObject({ endpoints: ['pricing.pricesBySku'], via: 'parent' });
    expect(field('Product.availability')).toMatchObject({ endpoints: ['inventory.stockBySku'], via: 'resolver' });
    expect(field('Product.shippingEstimate')).toMatchObject({ endpoints: ['shipping.quote'], via: 'resolver' });
    expect(field('Query.viewer')).toMatchObject({ endpoints: ['accounts.userById'], via: 'resolver' });
    expect(field('Viewer.email')).toMatchObject({ endpoints: ['accounts.userById'], via: 'parent' });
    // Work shared between fields (memoised) is attributed to each field that needs it.
    expect(field('CheckoutQuote.total')).toMatchObject({ endpoints: ['pricing.pricesBySku', 'shipping.quote', 'tax.quote'], via: 'resolver' });
    expect(field('Query.apiVersion')).toMatchObject({ endpoints: [], via: 'none' });
    expect(field('Product.title').endpoints).toEqual(expect.arrayContaining(['catalog.productById', 'recommendations.forProduct']));
    expect(field('Category.products').endpoints.every((e) => e.startsWith('catalog.productsByCategory'))).toBe(true);
    expect(field('Product.price').operations).toEqual(['CategoryPage', 'ProductPage']);
  });

  it('names each credential by scheme and variable, never by value', () => {
    const byId = new Map(map.endpoints.map((e) => [e.id, e]));
    expect(byId.get('pricing.pricesBySku')).toMatchObject({ method: 'GET', path: '/v1/prices', credential: { scheme: 'bearer', env: ['PRICING_TOKEN'] } });
    expect(byId.get('inventory.stockBySku')!.credential).toEqual({ scheme: 'apiKey', env: ['INVENTORY_API_KEY'], header: 'X-Api-Key' });
    expect(byId.get('shipping.quote')!.credential).toEqual({ scheme: 'oauth2ClientCredentials', env: ['SHIPPING_CLIENT_ID', 'SHIPPING_CLIENT_SECRET'], tokenPath: '/oauth/token' });
    expect(byId.get('tax.quote')!.credential).toEqual({ scheme: 'basic', env: ['TAX_USERNAME', 'TAX_PASSWORD'] });
    expect(byId.get('catalog.productById')!.credential).toEqual({ scheme: 'none', env: [] });
    const text = JSON.stringify(map);
    for (const secret of Object.values(DEFAULT_SANDBOX_CREDENTIALS)) expect(text).not.toContain(secret);
  });
});

describe('@pii fields and clients', () => {
  const CLIENTS = JSON.stringify([
    { name: 'web', keySha256: hashApiKey('web-key'), permissions: ['pii', 'trace'], operations: 'any' },
    { name: 'mobile', keySha256: hashApiKey('mobile-key'), permissions: ['pii'], operations: 'persisted' },
    { name: 'partner', keySha256: hashApiKey('partner-key'), permissions: [], operations: 'any' },
  ]);
  let withClients: PerimeterMap;
  beforeAll(async () => {
    withClients = await derivePerimeterMap({ env: { CLIENTS } });
  });
  const f = (c: string) => withClients.fields.find((x) => x.coordinate === c)!;

  it('marks exactly the fields the field-access guard protects as @pii', () => {
    const pii = map.fields.filter((x) => x.pii && x.kind === 'output').map((x) => x.coordinate).sort();
    expect(pii).toEqual(fieldsWithDirective(composeGatewaySchema()));
    expect(pii).toEqual(expect.arrayContaining(['Query.viewer', 'Viewer.email', 'Address.line1']));
    expect(map.summary.pii).toBe(pii.length);
  });

  it('lists the configured clients (names and permissions, never keys) and who reaches each field', () => {
    expect(withClients.clients.map((c) => [c.name, c.pii, c.persistedOnly])).toEqual([
      ['mobile', true, true],
      ['partner', false, false],
      ['web', true, false],
    ]);
    expect(JSON.stringify(withClients)).not.toContain(hashApiKey('web-key'));
    // A @pii field: only clients with the pii permission (mobile too: its persisted Viewer operation selects it).
    expect(f('Viewer.email').clients).toEqual(['mobile', 'web']);
    expect(f('Query.viewer').clients).toEqual(['mobile', 'web']);
    // Not personal: every client whose documents may select it.
    expect(f('Product.price').clients).toEqual(['mobile', 'partner', 'web']);
    // Not in any persisted operation: the persisted-only client cannot reach it.
    expect(f('Query.apiVersion').clients).toEqual(['partner', 'web']);
    expect(describeClients({ CLIENTS }).map((c) => c.name)).toEqual(withClients.clients.map((c) => c.name));
  });

  it('PERSISTED_OPERATIONS=only limits every client to the fields of persisted operations', async () => {
    const only = await derivePerimeterMap({ env: { CLIENTS, PERSISTED_OPERATIONS: 'only' } });
    expect(only.clients.every((c) => c.persistedOnly)).toBe(true);
    const g = (c: string) => only.fields.find((x) => x.coordinate === c)!;
    expect(g('Query.apiVersion').clients).toEqual([]);
    expect(g('Product.price').clients).toEqual(['mobile', 'partner', 'web']);
    expect(g('Viewer.email').clients).toEqual(['mobile', 'web']);
  });
});

describe('npm run perimeter', () => {
  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'scripts/perimeter.ts', ...args], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout }));
    });

  it('prints Markdown with a row per schema field, and the same map as JSON', async () => {
    const [md, json] = await Promise.all([run([]), run(['--json'])]);
    expect(md.code).toBe(0);
    const section = md.stdout.slice(md.stdout.indexOf('### Fields'));
    const rows = section.split('\n').filter((l) => /^\| `\w+\.\w+`/.test(l)).map((l) => /^\| `([^`]+)`/.exec(l)![1]);
    expect(rows.sort()).toEqual(schemaFields());
    expect(md.stdout).toContain('| `pricing.pricesBySku` | `GET /v1/prices` | bearer: `PRICING_TOKEN` |');
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as PerimeterMap;
    expect(parsed.fields.map((f) => [f.coordinate, f.endpoints])).toEqual(map.fields.map((f) => [f.coordinate, f.endpoints]));
  });
});

describe('GET /admin/perimeter', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_TOKEN: 'perimeter-admin-token' } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('refuses without the admin token', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }] as Record<string, string>[]) {
      const r = await fetch(`${stack.url}/admin/perimeter`, { headers });
      expect(r.status).toBe(401);
      expect(((await r.json()) as any).error.code).toBe('UNAUTHENTICATED');
    }
  });

  it('serves the same map to an admin, as JSON and as Markdown, without calling the configured upstreams', async () => {
    stack.resetStats();
    const auth = { authorization: 'Bearer perimeter-admin-token' };
    const r = await fetch(`${stack.url}/admin/perimeter`, { headers: auth });
    expect(r.status).toBe(200);
    const served = (await r.json()) as PerimeterMap;
    expect(served.fields.map((f) => [f.coordinate, f.endpoints, f.pii])).toEqual(map.fields.map((f) => [f.coordinate, f.endpoints, f.pii]));
    const md = await fetch(`${stack.url}/admin/perimeter?format=markdown`, { headers: auth });
    expect(md.headers.get('content-type')).toContain('text/markdown');
    expect(await md.text()).toContain('## Perimeter map');
    // The probe ran on its own sandbox: the gateway's upstreams saw no call.
    expect(Object.values(stack.sandbox.upstreams).reduce((n, u) => n + u.stats().total, 0)).toBe(0);
  });
});
