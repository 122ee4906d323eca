/**
 * The perimeter map (`npm run perimeter`, `GET /admin/perimeter`): derived by running every field
 * against a real in-process sandbox; compared here with the composed schema itself, field by field.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { isInputObjectType, isInterfaceType, isObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeGatewaySchema, derivePerimeterMap } from '../src/main.js';
import type { UpstreamDef } from '../src/connector/index.js';
import { derivePerimeter, writesMarkdown, type PerimeterMap } from '../src/perimeter/index.js';
import { DEFAULT_SANDBOX_CREDENTIALS, startSandbox } from '../sandbox/index.js';
import { upstreams } from '../upstreams/index.js';
import { workflowList } from '../workflows/index.js';
import { describeClients, hashApiKey } from '../src/security/clients.js';
import { fieldsWithDirective } from '../src/security/field-access.js';
import { DECLARED_ENDPOINTS, DEFINITIONS, secretRefsOf } from './support/definitions.js';
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

const field = (c: string) => {
  const f = map.fields.find((x) => x.coordinate === c);
  if (!f) throw new Error(`${c} is not on the map`);
  return f;
};

/** A field's routes as an auditor reads them: endpoint, then the credential's scheme and variables. */
const routesOf = (c: string) =>
  field(c).endpoints.map((id) => {
    const e = map.endpoints.find((x) => x.id === id)!;
    return `${id} ${e.method} ${e.path} ${e.credential.scheme}${e.credential.env.length ? `:${e.credential.env.join('+')}` : ''}`;
  });

/** Every endpoint the upstream definitions declare. */
const DECLARED = DECLARED_ENDPOINTS;

/** The fields marked `@pii` in schema/ (Viewer and Address are the signed-in user's own profile). */
const PII = [
  'Address.city',
  'Address.country',
  'Address.line1',
  'Address.postalCode',
  'Address.state',
  'Query.viewer',
  'Viewer.email',
  'Viewer.firstName',
  'Viewer.lastName',
  'Viewer.shippingAddress',
];

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
    // Every declared endpoint is on the map, reached by at least one field; none is left unreached.
    expect(map.endpoints.map((e) => e.id).sort()).toEqual(DECLARED);
    expect([...new Set(map.fields.flatMap((f) => f.endpoints))].sort()).toEqual(DECLARED);
    expect(map.summary.unreachedEndpoints).toEqual([]);
    // Credential traffic is the shipping upstream's OAuth2 token: one request, reused by every quote.
    expect(map.summary.credentialCalls).toBe(1);
  });

  it('maps the catalog fallback Category.products takes when select pushdown does not apply', () => {
    // resolvers/catalog.ts loads productsByCategorySelected when every selected node field has a
    // projection, and productsByCategory (the full products) otherwise: both are routes of the field.
    expect(field('Category.products')).toMatchObject({ endpoints: ['catalog.productsByCategory', 'catalog.productsByCategorySelected'], via: 'resolver' });
    // ...and of everything under it, through the objects it produced.
    for (const c of ['ProductConnection.nodes', 'ProductConnection.totalCount', 'PageInfo.endCursor']) {
      expect(field(c)).toMatchObject({ endpoints: ['catalog.productsByCategory', 'catalog.productsByCategorySelected'], via: 'parent' });
    }
    expect(routesOf('Category.products')).toEqual(['catalog.productsByCategory GET /products/category/{slug} none', 'catalog.productsByCategorySelected GET /products/category/{slug} none']);
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
    // A product comes from the catalog by id, from a category page (either form), as a recommendation,
    // or as the product of an order's line (found by SKU).
    expect(field('Product.title')).toMatchObject({
      endpoints: ['catalog.productById', 'catalog.productIdsBySku', 'catalog.productsByCategory', 'catalog.productsByCategorySelected', 'recommendations.forProduct'],
      via: 'parent',
    });
    expect(field('Product.recommendations')).toMatchObject({ endpoints: ['catalog.productById', 'recommendations.forProduct'], via: 'resolver' });
    // Priming the request's loader with a page's products is not a call: it reaches nothing.
    expect(field('Category.products').endpoints).not.toContain('catalog.productById');
    expect(field('Product.price').operations).toEqual(['CategoryPage', 'ProductPage']);
    expect(field('Query.checkoutQuote').operations).toEqual(['CheckoutQuote']);
  });

  it('gives each field its endpoints with the credential each one uses', () => {
    expect(routesOf('Product.price')).toEqual(['pricing.pricesBySku GET /v1/prices bearer:PRICING_TOKEN']);
    expect(routesOf('Product.availability')).toEqual(['inventory.stockBySku POST /stock/lookup apiKey:INVENTORY_API_KEY']);
    expect(routesOf('Product.reviews')).toEqual(['reviews.reviewsByProductId GET /reviews bearer:REVIEWS_TOKEN']);
    expect(routesOf('Product.recommendations')).toEqual([
      'catalog.productById GET /products/{id} none',
      'recommendations.forProduct GET /recommendations apiKey:RECOMMENDATIONS_API_KEY',
    ]);
    expect(routesOf('Product.shippingEstimate')).toEqual(['shipping.quote POST /quotes oauth2ClientCredentials:SHIPPING_CLIENT_ID+SHIPPING_CLIENT_SECRET']);
    expect(routesOf('CheckoutQuote.tax')).toEqual(['pricing.pricesBySku GET /v1/prices bearer:PRICING_TOKEN', 'tax.quote POST /v1/tax/quote basic:TAX_USERNAME+TAX_PASSWORD']);
    expect(routesOf('Query.viewer')).toEqual(['accounts.userById GET /users/{id} bearer:ACCOUNTS_TOKEN']);
    expect(routesOf('Query.categories')).toEqual(['catalog.categories GET /products/categories none']);
    expect(routesOf('Query.apiVersion')).toEqual([]);
  });

  it('names each credential by scheme and variable, never by value', () => {
    const byId = new Map(map.endpoints.map((e) => [e.id, e]));
    expect(byId.get('pricing.pricesBySku')).toMatchObject({ method: 'GET', path: '/v1/prices', credential: { scheme: 'bearer', env: ['PRICING_TOKEN'] } });
    expect(byId.get('inventory.stockBySku')!.credential).toEqual({ scheme: 'apiKey', env: ['INVENTORY_API_KEY'], header: 'X-Api-Key' });
    expect(byId.get('shipping.quote')!.credential).toEqual({ scheme: 'oauth2ClientCredentials', env: ['SHIPPING_CLIENT_ID', 'SHIPPING_CLIENT_SECRET'], tokenPath: '/oauth/token' });
    expect(byId.get('tax.quote')!.credential).toEqual({ scheme: 'basic', env: ['TAX_USERNAME', 'TAX_PASSWORD'] });
    expect(byId.get('catalog.productById')!.credential).toEqual({ scheme: 'none', env: [] });
    const text = JSON.stringify(map);
    const defaults = [...Object.values(DEFAULT_SANDBOX_CREDENTIALS), ...DEFINITIONS.flatMap((d) => secretRefsOf(d).map((r) => r.sandboxDefault ?? ''))].filter(Boolean);
    expect(defaults.length).toBeGreaterThan(0);
    for (const secret of defaults) expect(text).not.toContain(secret);
  });
});

describe('the probe, counted by the upstreams it ran against', () => {
  it('made exactly the upstream calls its summary reports, the credential calls being the OAuth2 token requests', async () => {
    const defs = Object.values(upstreams) as UpstreamDef[];
    const sandbox = await startSandbox({ portBase: 0, latencyMs: Object.fromEntries(defs.map((d) => [d.name, 0])) });
    try {
      const probed = await derivePerimeter({
        schema: composeGatewaySchema(),
        upstreams: defs,
        baseUrls: sandbox.urls,
        user: { id: '1' },
        inputs: { country: 'US', postcode: '10001', paymentToken: 'tok_visa', idempotencyKey: 'perimeter-probe' },
        workflows: workflowList,
      });
      const received = Object.values(sandbox.upstreams).reduce((n, u) => n + u.stats().total, 0);
      expect(probed.summary.upstreamCalls).toBe(received);
      expect(probed.summary.credentialCalls).toBe(sandbox.upstream('shipping').stats().counts['POST /oauth/token']);
      expect(probed.summary.credentialCalls).toBe(1);
      expect(probed.summary.unattributed).toBe(0);
      // Both forms of a category page were requested: with `select=` (pushdown) and without (fallback).
      const catalog = sandbox.upstream('catalog').stats();
      expect(catalog.requests).toHaveLength(catalog.total); // all of them (the sandbox keeps the last 1,000)
      const pages = catalog.requests.filter((r) => r.route === 'GET /products/category/:slug').map((r) => r.path.includes('select='));
      expect(new Set(pages)).toEqual(new Set([true, false]));
      expect(probed.fields.map((f) => [f.coordinate, f.endpoints])).toEqual(map.fields.map((f) => [f.coordinate, f.endpoints]));
    } finally {
      await sandbox.close();
    }
  });
});

describe('@pii fields and clients', () => {
  const CLIENTS = JSON.stringify([
    { name: 'web', keySha256: hashApiKey('web-key'), permissions: ['pii', 'trace'], operations: 'any' },
    { name: 'mobile', keySha256: hashApiKey('mobile-key'), permissions: ['pii'], operations: 'persisted' },
    { name: 'partner', keySha256: hashApiKey('partner-key'), permissions: [], operations: 'any' },
    { name: 'checkout', keySha256: hashApiKey('checkout-key'), permissions: ['write'], operations: 'persisted' },
  ]);
  let withClients: PerimeterMap;
  beforeAll(async () => {
    withClients = await derivePerimeterMap({ env: { CLIENTS } });
  });
  const f = (c: string) => withClients.fields.find((x) => x.coordinate === c)!;

  it('marks exactly the fields the field-access guard protects as @pii', () => {
    const pii = map.fields.filter((x) => x.pii).map((x) => x.coordinate).sort();
    expect(pii).toEqual(PII);
    expect(fieldsWithDirective(composeGatewaySchema())).toEqual(PII);
    expect(map.summary.pii).toBe(PII.length);
    // Personal data comes from one place: the accounts upstream, with its own token.
    for (const c of PII) expect(routesOf(c)).toEqual(['accounts.userById GET /users/{id} bearer:ACCOUNTS_TOKEN']);
    // ...and no other field reaches it.
    expect(map.fields.filter((x) => x.endpoints.includes('accounts.userById')).map((x) => x.coordinate).sort()).toEqual([...PII, 'Viewer.id'].sort());
  });

  it('lists the configured clients (names and permissions, never keys) and who reaches each field', () => {
    expect(withClients.clients.map((c) => [c.name, c.pii, c.persistedOnly])).toEqual([
      ['checkout', false, true],
      ['mobile', true, true],
      ['partner', false, false],
      ['web', true, false],
    ]);
    expect(JSON.stringify(withClients)).not.toContain(hashApiKey('web-key'));
    // A @pii field: only clients with the pii permission (mobile too: its persisted Viewer operation selects it).
    expect(f('Viewer.email').clients).toEqual(['mobile', 'web']);
    expect(f('Query.viewer').clients).toEqual(['mobile', 'web']);
    // Not personal: every client whose documents may select it.
    expect(f('Product.price').clients).toEqual(['checkout', 'mobile', 'partner', 'web']);
    // Not in any persisted operation: the persisted-only clients cannot reach it.
    expect(f('Query.apiVersion').clients).toEqual(['partner', 'web']);
    expect(describeClients({ CLIENTS }).map((c) => c.name)).toEqual(withClients.clients.map((c) => c.name));
  });

  it('lists every write: placeOrder writes to inventory, payments and orders, callable only by clients with the write permission', () => {
    expect(withClients.writes).toEqual([
      {
        field: 'Mutation.placeOrder',
        workflow: 'placeOrder',
        writes: ['inventory.commitReservation', 'inventory.releaseReservation', 'inventory.reserve', 'orders.create', 'payments.charge', 'payments.refund'],
        reads: ['catalog.productById', 'pricing.pricesBySku', 'shipping.quote', 'tax.quote'],
        clients: ['checkout'],
      },
    ]);
    expect(f('Mutation.placeOrder').clients).toEqual(['checkout']);
    const md = writesMarkdown(withClients, 'orders');
    expect(md).toContain('### Writes to orders');
    expect(md).toContain('| `Mutation.placeOrder` | placeOrder | `orders.create` (`POST /orders`; `ORDERS_API_KEY`) |');
    expect(md).not.toContain('payments.charge');
    expect(writesMarkdown(withClients, 'pricing')).toContain('Nothing writes to pricing.');
  });

  it('PERSISTED_OPERATIONS=only limits every client to the fields of persisted operations', async () => {
    const only = await derivePerimeterMap({ env: { CLIENTS, PERSISTED_OPERATIONS: 'only' } });
    expect(only.clients.every((c) => c.persistedOnly)).toBe(true);
    const g = (c: string) => only.fields.find((x) => x.coordinate === c)!;
    expect(g('Query.apiVersion').clients).toEqual([]);
    expect(g('Product.price').clients).toEqual(['checkout', 'mobile', 'partner', 'web']);
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
    expect(md.stdout).toContain('| `catalog.productsByCategory` | `GET /products/category/{slug}` | none | ');
    expect(md.stdout).toContain('| `Category.products` | `ProductConnection!` |  | `catalog.productsByCategory`, `catalog.productsByCategorySelected` | resolver | none |');
    expect(md.stdout).not.toContain('Not reached by the probe');
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
