/**
 * `npm run contracts:check`: the declared response schemas of `upstreams/*.ts` against the OpenAPI
 * documents the sandbox upstreams serve (real servers), and against copies with planted
 * disagreements. The script runs as a real process, as CI runs it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxUpstreamNames, startSandbox, type Sandbox } from '../sandbox/index.js';
import { endpointRoute } from '../scripts/contracts-check.js';
import { upstreamList, upstreams } from '../upstreams/index.js';
import { upstreamUrlEnv } from './support/definitions.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/contracts-check.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let sandbox: Sandbox;
let dir: string;

beforeAll(async () => {
  sandbox = await startSandbox({ portBase: 0, latencyMs: Object.fromEntries(sandboxUpstreamNames().map((n) => [n, 0])) });
  dir = mkdtempSync(join(tmpdir(), 'tributary-contracts-'));
});
afterAll(async () => {
  await sandbox?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const served = async (name: keyof Sandbox['urls']) => (await (await fetch(`${sandbox.urls[name]}/openapi.json`)).json()) as any;

describe('contracts:check', () => {
  it('derives every endpoint route from its definition', () => {
    const routes = Object.values(upstreams).flatMap((u) => Object.entries(u.endpoints).map(([n, ep]) => `${u.name}.${n} ${JSON.stringify(endpointRoute(ep as never))}`));
    // Every endpoint has a route, and the shop's endpoints have the routes the sandbox serves.
    expect(routes.filter((r) => r.endsWith(' undefined'))).toEqual([]);
    expect(routes).toEqual(expect.arrayContaining([
      'catalog.productById {"method":"GET","path":"/products/{id}"}',
      'catalog.productsByCategory {"method":"GET","path":"/products/category/{slug}"}',
      'catalog.categories {"method":"GET","path":"/products/categories"}',
      'pricing.pricesBySku {"method":"GET","path":"/v1/prices"}',
      'inventory.stockBySku {"method":"POST","path":"/stock/lookup"}',
      'reviews.reviewsByProductId {"method":"GET","path":"/reviews"}',
      'recommendations.forProduct {"method":"GET","path":"/recommendations"}',
      'shipping.quote {"method":"POST","path":"/quotes"}',
      'tax.quote {"method":"POST","path":"/v1/tax/quote"}',
      'accounts.userById {"method":"GET","path":"/users/{id}"}',
    ]));
  });

  it('every declared schema agrees with the document its upstream serves: exit 0', async () => {
    const env = upstreamUrlEnv(sandbox.urls);
    const r = await run(['--json'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.upstreams.map((u: any) => [u.name, u.endpoints])).toEqual(Object.values(upstreams).map((u) => [u.name, Object.keys(u.endpoints).length]));
    expect(report.upstreams.map((u: any) => u.name)).toEqual(Object.values(upstreams).map((u) => u.name));
    expect(report.upstreams.every((u: any) => u.source.endsWith('/openapi.json'))).toBe(true);
    expect(report.findings.filter((f: any) => f.severity === 'error')).toEqual([]);
  });

  it('finds a rename planted in a copy of pricing\'s document: exit 1, named in Markdown', async () => {
    const doc = await served('pricing');
    const price = doc.components.schemas.Price;
    price.properties.salePrice = price.properties.sale;
    delete price.properties.sale;
    price.required = price.required.map((k: string) => (k === 'sale' ? 'salePrice' : k));
    const file = join(dir, 'pricing-openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const r = await run(['--upstream', 'pricing', '--file', `pricing=${file}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('**1 disagreement(s)**');
    expect(r.stdout).toContain('| pricing | pricesBySku | `GET /v1/prices` | `/prices/*/sale` | required here, absent from the document |');
  });

  it('finds a type change and an optional field planted in a copy of inventory\'s document', async () => {
    const doc = await served('inventory');
    const item = doc.components.schemas.StockItem;
    item.properties.onHand = { type: 'string' };
    item.properties.status.enum.push('DISCONTINUED');
    item.required = item.required.filter((k: string) => k !== 'sku');
    const file = join(dir, 'inventory-openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const r = await run(['--upstream', 'inventory', '--file', `inventory=${file}`, '--json']);
    expect(r.code).toBe(1);
    const findings = JSON.parse(r.stdout).findings.map((f: any) => [f.severity, f.endpoint, f.pointer, f.problem]);
    expect(findings).toEqual([
      ['error', 'stockBySku', '/items/*/sku', 'required here, optional in the document'],
      ['error', 'stockBySku', '/items/*/onHand', 'the document allows string; declared integer'],
      ['error', 'stockBySku', '/items/*/status', 'the document allows "DISCONTINUED", which is not declared'],
    ]);
  });

  it('an unreadable document or a bad argument is a clear error, not a crash', async () => {
    const missing = await run(['--upstream', 'tax', '--file', `tax=${join(dir, 'nope.json')}`]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('| tax | * | `*` | `/` | the OpenAPI document could not be read');
    const bad = await run(['--file', 'nosuch=x.json']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`--file expects <upstream>=<value> with upstream one of ${upstreamList.map((d) => d.name).join(', ')}; got "nosuch=x.json"`);
  });
});
