/**
 * Issue 8's engine features: select pushdown (the operation's selection becomes the catalog's
 * `select=`), graphql-jit answering exactly as the reference executor, JSON bodies read by the
 * server, and `--workers N` (node:cluster) serving one port from several processes.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse, type FragmentDefinitionNode, type OperationDefinitionNode, type FieldNode } from 'graphql';
import { eventually } from './support/wait.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { productById, productsByCategory } from '../sandbox/data.js';
import { startSandbox, type Sandbox } from '../sandbox/index.js';
import { projectSelection, type Projection } from '../src/projection.js';
import { canaryCredentials, canaryEnv, OPERATIONS, startStack, watchCredentials, type CredentialWatch, type Stack } from './support/stack.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Canary credentials for the workers' sandbox, and under the gateway's variable names (a gateway with upstream URLs needs them). */
const C = canaryCredentials();
const SANDBOX_SECRETS = canaryEnv(C);

/** The resolve info of the first root field of `source`, as the executor would give it. */
function infoFor(source: string, variables: Record<string, unknown> = {}) {
  const doc = parse(source);
  const op = doc.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition')!;
  const fragments = Object.fromEntries(doc.definitions.filter((d): d is FragmentDefinitionNode => d.kind === 'FragmentDefinition').map((f) => [f.name.value, f]));
  return { fieldNodes: [op.selectionSet.selections[0] as FieldNode], fragments, variableValues: variables };
}

const P: Projection = { always: ['id'], fields: { id: ['id'], title: ['title'], price: ['sku'], thumbnail: ['thumbnail'] } };

describe('projectSelection', () => {
  it('maps the selection under a path to upstream fields, sorted, with the ones always needed', () => {
    expect(projectSelection(infoFor('{ products { nodes { title price { sale } } } }'), ['nodes'], P)).toEqual(['id', 'sku', 'title']);
  });

  it('follows fragments and inline fragments, and honours @skip/@include with variables', () => {
    const q = `query Q($t: Boolean!) { products { nodes { ...F ... on Product { thumbnail @include(if: $t) } __typename } } } fragment F on Product { title price @skip(if: true) }`;
    expect(projectSelection(infoFor(q, { t: false }), ['nodes'], P)).toEqual(['id', 'title']);
    expect(projectSelection(infoFor(q, { t: true }), ['nodes'], P)).toEqual(['id', 'thumbnail', 'title']);
  });

  it('works a document out once, but again for each value of a variable that a @skip/@include reads', () => {
    const info = infoFor('{ products { nodes { title price { sale } } } }');
    const once = projectSelection(info, ['nodes'], P);
    expect(projectSelection({ ...info, variableValues: { any: 1 } }, ['nodes'], P)).toBe(once);
    expect(Object.isFrozen(once)).toBe(true);
    const withVar = infoFor(`query Q($t: Boolean!) { products { nodes { title thumbnail @include(if: $t) } } }`);
    expect(projectSelection({ ...withVar, variableValues: { t: true } }, ['nodes'], P)).toEqual(['id', 'thumbnail', 'title']);
    expect(projectSelection({ ...withVar, variableValues: { t: false } }, ['nodes'], P)).toEqual(['id', 'title']);
    expect(projectSelection({ ...withVar, variableValues: { t: true } }, ['nodes'], P)).toEqual(['id', 'thumbnail', 'title']);
    // Another field node list (a second node merged in by the executor) is its own entry.
    const two = infoFor('{ products { nodes { title } } }');
    const other = infoFor('{ products { nodes { thumbnail } } }');
    expect(projectSelection(two, ['nodes'], P)).toEqual(['id', 'title']);
    expect(projectSelection({ ...two, fieldNodes: [...two.fieldNodes, ...other.fieldNodes] }, ['nodes'], P)).toEqual(['id', 'thumbnail', 'title']);
  });

  it('gives up (fetch everything) when a selected field has no mapping', () => {
    expect(projectSelection(infoFor('{ products { nodes { title weight } } }'), ['nodes'], P)).toBeUndefined();
  });

  it('asks only for what is always needed when the path is not selected', () => {
    expect(projectSelection(infoFor('{ products { totalCount } }'), ['nodes'], P)).toEqual(['id']);
  });
});

describe('select pushdown, graphql-jit and server-read bodies, end to end', () => {
  let jit: Stack;
  let reference: Stack;
  beforeAll(async () => {
    jit = await startStack({ env: { CACHE: 'off', GRAPHQL_JIT: 'on' } });
    reference = await startStack({ env: { CACHE: 'off', GRAPHQL_JIT: 'off' } });
  });
  afterAll(async () => {
    await jit?.close();
    await reference?.close();
  });

  it('a CategoryPage asks the catalog for the selected fields only, and answers as the data set says', async () => {
    jit.resetStats();
    const r = await jit.gql(OPERATIONS.CategoryPage, { slug: 'groceries', first: 20 });
    expect(r.status).toBe(200);
    expect(r.body.errors).toBeUndefined();
    const pages = jit.sandbox.upstream('catalog').stats().requests.filter((x) => x.route === 'GET /products/category/:slug');
    expect(pages).toHaveLength(1);
    expect(new URL(pages[0]!.path, 'http://x').searchParams.get('select')).toBe('id,rating,sku,thumbnail,title');
    const expected = productsByCategory.get('groceries')!.slice(0, 20);
    expect(r.body.data.category.products.nodes.map((n: { id: string; title: string; thumbnail: string; rating: number }) => [n.id, n.title, n.thumbnail, n.rating])).toEqual(
      expected.map((p) => [String(p.id), p.title, p.thumbnail, p.rating]),
    );
  });

  it('a selection with every Product field still answers in full (description, images...)', async () => {
    const q = `query($slug: String!) { category(slug: $slug) { products(first: 3) { nodes { id sku title description brand category images thumbnail rating } } } }`;
    const r = await jit.gql(q, { slug: 'beauty' });
    expect(r.body.errors).toBeUndefined();
    const first = productById.get(1)!;
    expect(r.body.data.category.products.nodes[0]).toEqual({
      id: '1', sku: first.sku, title: first.title, description: first.description, brand: first.brand ?? null, category: first.category, images: first.images, thumbnail: first.thumbnail, rating: first.rating,
    });
  });

  it('graphql-jit answers every shop operation exactly as the reference executor', async () => {
    const cases: [string, Record<string, unknown>][] = [
      [OPERATIONS.CategoryPage, { slug: 'kitchen-accessories', first: 20 }],
      [OPERATIONS.CategoryPage, { slug: 'groceries', first: 5, after: 'cDo0' }],
      [OPERATIONS.ProductPage, { id: '1', country: 'US', postcode: '10001' }],
      [OPERATIONS.ProductPage, { id: '99999', country: 'US', postcode: '10001' }],
      [OPERATIONS.CategoryPage, { slug: 'groceries', first: 500 }], // refused: first out of range
      [OPERATIONS.CategoryPage, { slug: 'groceries' }], // refused: missing variable
    ];
    for (const [q, v] of cases) {
      const [a, b] = await Promise.all([jit.gql(q, v), reference.gql(q, v)]);
      const strip = (body: GqlResponse['body']) => JSON.parse(JSON.stringify(body).replace(/"requestId":"[^"]+"/g, '"requestId":"-"'));
      expect([a.status, strip(a.body)]).toEqual([b.status, strip(b.body)]);
    }
  });

  it('bodies: malformed JSON, a JSON scalar and an empty object get a 400; a batch is still served', async () => {
    for (const body of ['{"query":', '42', '{}']) {
      const res = await fetch(`${jit.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(400);
      const json = (await res.json()) as { errors: { message: string }[] };
      expect(json.errors[0]!.message).toBeTruthy();
    }
    const batch = await fetch(`${jit.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ query: '{ apiVersion }' }, { query: '{ apiVersion }' }]),
    });
    expect(batch.status).toBe(200);
    expect(((await batch.json()) as unknown[]).length).toBe(2);
  });
});

type GqlResponse = Awaited<ReturnType<Stack['gql']>>;

const isJson = (l: string): boolean => {
  try {
    JSON.parse(l);
    return true;
  } catch {
    return false;
  }
};

describe('--workers N', () => {
  let sandbox: Sandbox;
  // The workers are other processes, outside any stack: the same canary and isolation check, by hand.
  let watch: CredentialWatch;
  beforeAll(async () => {
    sandbox = await startSandbox({ portBase: 0, latencyMs: { catalog: 0, pricing: 0, inventory: 0 }, credentials: C });
    watch = watchCredentials(sandbox, C, SANDBOX_SECRETS);
  });
  afterAll(async () => {
    watch?.stop();
    await sandbox?.close();
  });

  it('serves one port from two worker processes, and stops them all on SIGTERM', async () => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', CACHE: 'off', ...SANDBOX_SECRETS };
    for (const [name, url] of Object.entries(sandbox.urls)) env[`UPSTREAM_${name.toUpperCase()}_URL`] = url;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--workers', '2'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setInterval(() => {
          // Each worker writes its own line; they can reach the pipe after the primary's, so wait for all.
          const m = /"url":"(http:\/\/[^"]+)\/graphql"[^\n]*"msg":"tributary listening"/.exec(out);
          if (m && [...out.matchAll(/"msg":"worker listening"/g)].length >= 2) {
            clearInterval(t);
            resolve(m[1]!);
          }
        }, 50);
        child.once('exit', (code) => {
          clearInterval(t);
          reject(new Error(`exited ${code}: ${out}`));
        });
      });
      expect(out).toContain('"workers":2');
      const workerPids = new Set([...out.matchAll(/"pid":(\d+)[^\n]*"msg":"worker listening"/g)].map((m) => m[1]));
      expect(workerPids.size).toBe(2);
      // Fresh connections are spread over the workers; every answer is complete.
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ query: OPERATIONS.CategoryPage, variables: { slug: 'groceries', first: 20 } }) }).then((r) => r.json() as Promise<GqlResponse['body']>),
        ),
      );
      expect(answers.filter((a) => !a.errors && a.data.category.products.nodes.length === 20)).toHaveLength(20);
      expect(sandbox.upstream('pricing').stats().requests.map((q) => q.headers.authorization)).toContain(`Bearer ${C.pricingToken}`);
      // The workers' request lines reach the primary's standard output, each line whole.
      await eventually(() => [...out.matchAll(/"msg":"graphql request"/g)].length >= 20, 'a request line per answer');
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const lines = out.split('\n').filter((l) => l.startsWith('{'));
      expect(lines.filter((l) => !isJson(l))).toEqual([]);
      expect(lines.filter((l) => l.includes('"msg":"graphql request"'))).toHaveLength(20);
      for (const pid of workerPids) expect(() => process.kill(Number(pid), 0)).toThrow();
      expect(watch.leaks([{ what: "the workers' output", text: out }, ...answers.map((a, i) => ({ what: `answer ${i}`, text: JSON.stringify(a) }))])).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);

  it('refuses WORKERS > 1 without upstream URLs (the in-process sandbox is not shareable)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', PORT: '0', WORKERS: '2' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(err).toContain('WORKERS > 1 needs UPSTREAM_<NAME>_URL');
  }, 30_000);
});
