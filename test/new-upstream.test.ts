/**
 * One upstream, one place: a new spoke is three files. This test writes a "promotions" upstream
 * (definition, SDL module, resolver) into a temporary copy of the project, changes nothing else, and
 * runs over it what a team runs: the gateway (its own tiny upstream server beside the sandbox), the
 * schema check against the copy's main branch, the perimeter map and the contract check.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../sandbox/index.js';
import { credentialEnv, upstreamUrlEnv } from './support/definitions.js';
import { DEFAULT_SANDBOX_CREDENTIALS } from '../sandbox/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOKEN = 'promotions-test-token';

const DEFINITION = `/** promotions: running promotions by product, batched. */
import { Type, type Static } from '@sinclair/typebox';
import { batchEndpoint, defineUpstream } from '../src/connector/index.js';

const PromotionSchema = Type.Object({ productId: Type.Integer(), code: Type.String(), percentOff: Type.Number() });

export interface Promotion {
  readonly productId: string;
  readonly code: string;
  readonly percentOff: number;
}

const promotions = defineUpstream({
  name: 'promotions',
  description: 'Running promotions by product.',
  baseUrlEnv: 'UPSTREAM_PROMOTIONS_URL',
  auth: { scheme: 'bearer', token: { env: 'PROMOTIONS_TOKEN', sandboxDefault: 'sandbox-promotions-token' } },
  policy: { timeoutMs: 500, retry: { attempts: 2 } },
  endpoints: {
    byProduct: batchEndpoint({
      method: 'GET',
      maxBatchSize: 50,
      request: (ids: readonly string[]) => ({ path: '/promotions', query: { productIds: ids.join(',') } }),
      response: Type.Object({ promotions: Type.Array(PromotionSchema) }),
      items: (body) => body.promotions,
      itemKey: (p: Static<typeof PromotionSchema>) => String(p.productId),
      map: (p): Promotion => ({ productId: String(p.productId), code: p.code, percentOff: p.percentOff }),
      cardinality: 'many',
      cache: { ttlMs: 30_000, scope: 'public' },
    }),
  },
});
export default promotions;

declare module './index.js' {
  interface Upstreams {
    promotions: typeof promotions;
  }
}
`;

const MODULE = `# owner: growth-team
# Promotions, from the promotions upstream.

extend type Product {
  "Promotions running on this product; null when promotions are unavailable."
  promotions: [Promotion!] @requires(fields: "id")
}

"A promotion a customer can use."
type Promotion {
  "The code to enter at checkout."
  code: String!
  "Discount, in percent."
  percentOff: Float!
}
`;

const RESOLVER = `/** Product.promotions: one batched call for every product of a page. */
import type { ResolverContext } from './context.js';

export default {
  Product: {
    promotions: (product: { id: string }, _: unknown, ctx: ResolverContext) => ctx.upstreams.promotions.byProduct.load(product.id),
  },
};
`;

const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'promotions', version: '1' },
  paths: {
    '/promotions': {
      get: {
        parameters: [{ name: 'productIds', in: 'query', required: true, schema: { type: 'string' } }],
        responses: {
          '200': {
            description: 'promotions of the products',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['promotions'],
                  properties: {
                    promotions: {
                      type: 'array',
                      items: { type: 'object', required: ['productId', 'code', 'percentOff'], properties: { productId: { type: 'integer' }, code: { type: 'string' }, percentOff: { type: 'number' } } },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

/** The new upstream itself: a tiny server with its own bearer token and OpenAPI document. */
function promotionsServer(): Promise<{ server: Server; url: string; calls: { path: string; authorization: string | undefined }[] }> {
  const calls: { path: string; authorization: string | undefined }[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/openapi.json') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(OPENAPI));
    calls.push({ path: req.url ?? '', authorization: req.headers.authorization });
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"unauthorized"}');
    const ids = (url.searchParams.get('productIds') ?? '').split(',').filter(Boolean).map(Number);
    const promotions = ids.filter((id) => id % 2 === 1).map((id) => ({ productId: id, code: `SAVE${id}`, percentOff: 10 }));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ promotions }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls })));
}

const run = (cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', ...args], { cwd, env: { ...process.env, ...env }, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

let copy: string;
let sandbox: Sandbox;
let promotions: Awaited<ReturnType<typeof promotionsServer>>;
let gateway: ChildProcess | undefined;

beforeAll(async () => {
  copy = mkdtempSync(join(tmpdir(), 'tributary-new-upstream-'));
  const skip = new Set(['node_modules', '.git', 'dist', '.tributary', 'test-artifacts']);
  cpSync(ROOT, copy, { recursive: true, filter: (src) => !skip.has(src.slice(ROOT.length).split('/')[0]!) && !src.includes('/node_modules') });
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd: copy, encoding: 'utf8' });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'base');
  git('checkout', '-q', '-b', 'promotions');
  // The three files, and nothing else.
  writeFileSync(join(copy, 'upstreams/promotions.ts'), DEFINITION);
  writeFileSync(join(copy, 'schema/promotions.graphql'), MODULE);
  writeFileSync(join(copy, 'resolvers/promotions.ts'), RESOLVER);
  git('add', '-A');
  git('commit', '-q', '-m', 'promotions');
  expect(git('diff', '--name-only', 'main', 'HEAD').trim().split('\n').sort()).toEqual(['resolvers/promotions.ts', 'schema/promotions.graphql', 'upstreams/promotions.ts']);
  sandbox = await startSandbox({ portBase: 0 });
  promotions = await promotionsServer();
}, 120_000);

afterAll(async () => {
  gateway?.kill('SIGKILL');
  await sandbox?.close();
  await new Promise<void>((resolve) => (promotions ? promotions.server.close(() => resolve()) : resolve()));
  if (copy) rmSync(copy, { recursive: true, force: true });
});

describe('a new upstream in three files', () => {
  it('the gateway serves its field, batched, with its own credential, select pushdown still on', async () => {
    const env = {
      ...upstreamUrlEnv(sandbox.urls),
      ...credentialEnv(DEFAULT_SANDBOX_CREDENTIALS),
      UPSTREAM_PROMOTIONS_URL: promotions.url,
      PROMOTIONS_TOKEN: TOKEN,
      PORT: '0',
      HOST: '127.0.0.1',
      WORKFLOW_DIR: join(copy, '.tributary'),
    };
    gateway = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: copy, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      gateway!.stdout!.on('data', (c: Buffer) => {
        out += String(c);
        const m = /"url":"(http:\/\/[^"]+)\/graphql"[^\n]*"msg":"tributary listening"/.exec(out);
        if (m) resolve(m[1]!);
      });
      gateway!.stderr!.on('data', (c: Buffer) => (out += String(c)));
      gateway!.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${out}`)));
    });
    const query = '{ category(slug: "beauty") { products(first: 4) { nodes { id title promotions { code percentOff } } } } }';
    const r = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
    const body = (await r.json()) as { data: { category: { products: { nodes: { id: string; promotions: { code: string }[] }[] } } }; errors?: unknown };
    expect(body.errors).toBeUndefined();
    const nodes = body.data.category.products.nodes;
    expect(nodes.map((n) => [n.id, n.promotions])).toEqual([
      ['1', [{ code: 'SAVE1', percentOff: 10 }]],
      ['2', []],
      ['3', [{ code: 'SAVE3', percentOff: 10 }]],
      ['4', []],
    ]);
    // One batched call for the page's four products, with the new upstream's own credential.
    expect(promotions.calls).toEqual([{ path: '/promotions?productIds=1%2C2%2C3%2C4', authorization: `Bearer ${TOKEN}` }]);
    // @requires(fields: "id") kept select pushdown on: the category page asked the catalog for the fields selected.
    const page = sandbox.upstream('catalog').stats().requests.find((q) => q.route === 'GET /products/category/:slug')!;
    expect(new URL(page.path, 'http://x').searchParams.get('select')).toBe('id,sku,title');
  }, 120_000);

  it('in sandbox mode (no URL set) the gateway starts; the field without a sandbox counterpart answers an error naming its upstream', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: copy,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', SANDBOX_PORT_BASE: '0', WORKFLOW_DIR: join(copy, '.tributary-sandbox') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout!.on('data', (c: Buffer) => {
          out += String(c);
          const m = /"url":"(http:\/\/[^"]+)\/graphql"[^\n]*"msg":"tributary listening"/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${out}`)));
      });
      expect(out).toContain('no sandbox counterpart');
      const r = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ product(id: "1") { title promotions { code } } }' }) });
      const body = (await r.json()) as { data: { product: { title: string; promotions: null } }; errors: { extensions: { upstream: string } }[] };
      expect(body.data.product.title).toBe('Essence Mascara Lash Princess');
      expect(body.data.product.promotions).toBeNull();
      expect(body.errors.map((e) => e.extensions.upstream)).toEqual(['promotions']);
    } finally {
      child.kill('SIGKILL');
    }
  }, 120_000);

  it('the schema check against main: safe additions, described and owned, exit 0', async () => {
    const r = await run(copy, ['scripts/schema-check.ts', '--format', 'json', '--no-write'], { UPSTREAM_PROMOTIONS_URL: '' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const review = JSON.parse(r.stdout) as { changes: { level: string; coordinate: string }[] };
    expect(review.changes.filter((c) => c.level !== 'safe')).toEqual([]);
    expect(review.changes.map((c) => c.coordinate)).toEqual(expect.arrayContaining(['Product.promotions', 'Promotion']));
  }, 180_000);

  it('the perimeter map derives its field → endpoint → credential, with no sandbox counterpart', async () => {
    const r = await run(copy, ['scripts/perimeter.ts', '--json']);
    expect(r.code).toBe(0);
    const map = JSON.parse(r.stdout) as { fields: { coordinate: string; endpoints: string[] }[]; endpoints: { id: string; path: string; credential: { env: string[] } }[] };
    expect(map.fields.find((f) => f.coordinate === 'Product.promotions')!.endpoints).toEqual(['promotions.byProduct']);
    expect(map.endpoints.find((e) => e.id === 'promotions.byProduct')).toMatchObject({ path: '/promotions', credential: { env: ['PROMOTIONS_TOKEN'] } });
  }, 180_000);

  it('the contract check compares its declared response with the document it serves', async () => {
    const r = await run(copy, ['scripts/contracts-check.ts', '--json', '--upstream', 'promotions', '--url', `promotions=${promotions.url}`]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { upstreams: { name: string; endpoints: number }[]; findings: { severity: string }[] };
    expect(report.upstreams).toEqual([expect.objectContaining({ name: 'promotions', endpoints: 1 })]);
    expect(report.findings.filter((f) => f.severity === 'error')).toEqual([]);
    // Without an address it says there is nothing to compare with, and does not fail.
    const none = await run(copy, ['scripts/contracts-check.ts', '--json', '--upstream', 'promotions']);
    expect(none.code).toBe(0);
    expect(JSON.parse(none.stdout).findings[0].problem).toContain('no OpenAPI document to compare with');
  }, 180_000);
});
