/**
 * `npm run schema:check -- --usage` against usage a real gateway recorded from real traffic: two API
 * clients send operations (web also an ad-hoc one no file of `operations/` holds), the usage is read
 * from `GET /admin/usage` (URL) and from a file saved from it; pull-request branches of a temporary
 * git repository remove a field web uses and one nobody uses, deprecate a field, and plant a non-null
 * upstream-backed field. The script runs as a real process, as CI runs it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { resolvers } from '../resolvers/index.js';
import { createLogger } from '../src/logging.js';
import { derivePerimeterMap, warnNullabilityAtStart } from '../src/main.js';
import { composeSchema, loadSchemaModules } from '../src/schema.js';
import { hashApiKey } from '../src/security/index.js';
import type { UsageExport } from '../src/usage/index.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KEYS = { web: `web-${randomUUID()}`, mobile: `mobile-${randomUUID()}` };
const ADMIN_TOKEN = `admin-${randomUUID()}`;
const CLIENTS = JSON.stringify([
  { name: 'web', keySha256: hashApiKey(KEYS.web), permissions: [], operations: 'any' },
  { name: 'mobile', keySha256: hashApiKey(KEYS.mobile), permissions: [], operations: 'any' },
]);
/** An ad-hoc operation of the web client: real clients send more than `operations/` holds. */
const CATEGORIES = 'query Categories { categories { slug name } }';

let stack: Stack;
let repo: string;
let work: string;
let usageFile: string;
let perimeterFile: string;
let usage: UsageExport;

const git = (...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=schema-check-test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd: repo, encoding: 'utf8' }).trim();

function check(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'scripts/schema-check.ts'), '--root', repo, '--no-write', ...args],
      { cwd: ROOT, env: { ...process.env, ADMIN_TOKEN }, maxBuffer: 8 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function commit(path: string, edit: (s: string) => string, message: string): void {
  const file = join(repo, path);
  const before = readFileSync(file, 'utf8');
  const after = edit(before);
  expect(after).not.toBe(before);
  writeFileSync(file, after);
  git('add', '-A');
  git('commit', '-q', '-m', message);
}

const removeCategories = (s: string) => s.replace(/\s*"Every category, in the catalog's order."\n\s*categories: \[Category!\]!/, '');
const removeApiVersion = (s: string) => s.replace(/\s*"The API's version[^\n]*\n\s*apiVersion: String!/, '\n  "Whether the service answers."\n  ping: Boolean');

/** The last request of the recorded operations that read `coordinate`, from the export itself. */
function lastSeenOf(u: UsageExport, coordinate: string): string {
  const ids = Object.entries(u.operations).filter(([, o]) => o.coordinates.includes(coordinate)).map(([id]) => id);
  return new Date(Math.max(...u.counts.filter((c) => ids.includes(c.id)).map((c) => c.lastSeen))).toISOString();
}

beforeAll(async () => {
  stack = await startStack({ env: { CLIENTS, ADMIN_TOKEN } });
  const as = (client: keyof typeof KEYS) => ({ 'x-api-key': KEYS[client] });
  for (let i = 0; i < 3; i++) expect((await stack.gql(OPERATIONS.ProductPage, { id: '1', country: 'US', postcode: '10001' }, as('web'))).body.errors).toBeUndefined();
  for (let i = 0; i < 2; i++) expect((await stack.gql(CATEGORIES, {}, as('web'))).body.errors).toBeUndefined();
  for (let i = 0; i < 4; i++) expect((await stack.gql(OPERATIONS.CategoryPage, { slug: 'beauty', first: 2 }, as('mobile'))).body.errors).toBeUndefined();

  work = mkdtempSync(join(tmpdir(), 'tributary-schema-usage-'));
  const res = await fetch(`${stack.url}/admin/usage`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
  usage = (await res.json()) as UsageExport;
  usageFile = join(work, 'usage.json');
  writeFileSync(usageFile, JSON.stringify(usage));
  perimeterFile = join(work, 'perimeter.json');
  writeFileSync(perimeterFile, JSON.stringify(await derivePerimeterMap()));

  repo = join(work, 'repo');
  for (const p of ['schema', 'operations', 'schema.graphql']) cpSync(join(ROOT, p), join(repo, p), { recursive: true });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'base');
}, 120_000);
afterAll(async () => {
  await stack?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});
beforeEach(() => {
  git('checkout', '-q', '-f', 'main');
  git('clean', '-q', '-fd');
});

describe('schema:check --usage', () => {
  it('a field nobody used passes; a field web uses fails naming web; without --usage both fail as today', async () => {
    git('checkout', '-q', '-b', 'remove-two');
    commit('schema/base.graphql', removeApiVersion, 'replace Query.apiVersion');

    const unusedOnly = await check('--usage', usageFile, '--perimeter', perimeterFile);
    expect(unusedOnly.stderr).toBe('');
    expect(unusedOnly.code).toBe(0);
    expect(unusedOnly.stdout).toContain('| Query.apiVersion was removed. | `Query.apiVersion` | - | unused over 30 days | not needed (unused) |');
    expect(unusedOnly.stdout).toContain('**Result: pass.**');
    // Without --usage: today's behaviour, an unacknowledged breaking change.
    const today = await check('--perimeter', perimeterFile);
    expect(today.code).toBe(1);
    expect(today.stdout).toContain('| Query.apiVersion was removed. | `Query.apiVersion` | - | **no** |');

    commit('schema/catalog.graphql', removeCategories, 'remove Query.categories');
    const both = await check('--usage', usageFile, '--perimeter', perimeterFile, '--format', 'json');
    expect(both.code).toBe(1);
    const review = JSON.parse(both.stdout);
    expect(review.ok).toBe(false);
    expect(review.usage).toEqual({ source: usageFile, days: 30, store: 'memory', to: new Date(usage.to).toISOString() });
    expect(review.changes.map((c: any) => [c.level, c.type, c.coordinate, c.usedBy, c.acknowledged, c.owner, c.usage])).toEqual([
      ['breaking', 'FIELD_REMOVED', 'Query.apiVersion', [], false, { module: 'schema/base.graphql', owner: 'platform-team' }, { status: 'unused', days: 30, requests: 0, clients: [], operations: [], lastSeen: null }],
      [
        'breaking',
        'FIELD_REMOVED',
        'Query.categories',
        [],
        false,
        { module: 'schema/catalog.graphql', owner: 'catalog-team' },
        { status: 'used', days: 30, requests: 2, clients: [{ name: 'web', requests: 2 }], operations: [{ name: 'Categories', requests: 2 }], lastSeen: lastSeenOf(usage, 'Query.categories') },
      ],
      ['safe', 'FIELD_ADDED', 'Query.ping', [], true, { module: 'schema/base.graphql', owner: 'platform-team' }, undefined],
    ]);

    const md = await check('--usage', usageFile, '--perimeter', perimeterFile, '--format', 'markdown');
    expect(md.code).toBe(1);
    expect(md.stdout).toContain(`Field usage from ${usageFile} (memory), over the 30 days before ${new Date(usage.to).toISOString()}.`);
    expect(md.stdout).toContain(
      `| Query.categories was removed. | \`Query.categories\` | - | **used**: 2 requests by web 2 (operations Categories 2), last seen ${lastSeenOf(usage, 'Query.categories')} | **no** |`,
    );
    expect(md.stdout).toContain('### Owners to review\n\n- catalog-team (`schema/catalog.graphql`): `Query.categories`\n- platform-team (`schema/base.graphql`): `Query.apiVersion`, `Query.ping`');
    expect(md.stdout).toContain('**Result: fail.** Breaking changes still in use by web: `Query.categories`.');

    // Acknowledging the used one is the explicit way through.
    expect((await check('--usage', usageFile, '--perimeter', perimeterFile, '--ack', 'Query.categories')).code).toBe(0);
  }, 240_000);

  it('reads the usage from the gateway itself, and looks back --usage-days', async () => {
    git('checkout', '-q', '-b', 'remove-categories');
    commit('schema/catalog.graphql', removeCategories, 'remove Query.categories');
    const live = await check('--usage', stack.url, '--perimeter', perimeterFile, '--json');
    expect(live.code).toBe(1);
    const c = JSON.parse(live.stdout).changes.find((x: any) => x.coordinate === 'Query.categories');
    expect(c.usage.clients).toEqual([{ name: 'web', requests: 2 }]);

    // The same traffic 40 days earlier: unused over 30 days (passes), used over 60.
    const shift = 40 * 86_400_000;
    const old = { ...usage, counts: usage.counts.map((x) => ({ ...x, window: x.window - shift, lastSeen: x.lastSeen - shift })) };
    const oldFile = join(work, 'old-usage.json');
    writeFileSync(oldFile, JSON.stringify(old));
    const thirty = await check('--usage', oldFile, '--perimeter', perimeterFile);
    expect(thirty.code).toBe(0);
    expect(thirty.stdout).toContain('| Query.categories was removed. | `Query.categories` | - | unused over 30 days | not needed (unused) |');
    const sixty = await check('--usage', oldFile, '--usage-days', '60', '--perimeter', perimeterFile);
    expect(sixty.code).toBe(1);
    expect(sixty.stdout).toContain('**used**: 2 requests by web 2');

    const bad = await check('--usage', join(work, 'missing.json'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('the usage could not be read');
    const badDays = await check('--usage-days', 'soon');
    expect(badDays.code).toBe(2);
    expect(badDays.stderr).toContain('--usage-days must be a number > 0, but is "soon"');
  }, 240_000);

  it('a deprecated field carries its usage', async () => {
    git('checkout', '-q', '-b', 'deprecate-brand');
    commit('schema/catalog.graphql', (s) => s.replace(/  brand: String\n/, '  brand: String @deprecated(reason: "Use manufacturer.")\n'), 'deprecate Product.brand');
    const r = await check('--usage', usageFile, '--perimeter', perimeterFile);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('| Product.brand was deprecated: Use manufacturer. | `Product.brand` | - |');
    expect(r.stdout).toContain(`| \`Product.brand\` | Use manufacturer. | ProductPage | **used**: 3 requests by web 3 (operations ProductPage 3), last seen ${lastSeenOf(usage, 'Product.brand')} |`);
  }, 240_000);
});

describe('schema:check nullability review', () => {
  it('a planted non-null upstream-backed field is reported with its path and fails the check', async () => {
    git('checkout', '-q', '-b', 'price-non-null');
    commit('schema/pricing.graphql', (s) => s.replace('  price: Price @requires', '  price: Price! @requires'), 'Product.price is non-null');
    // No --perimeter: the field → upstream map is derived from this project's resolvers, over the reviewed schema.
    const r = await check('--format', 'json');
    expect(r.code).toBe(1);
    const review = JSON.parse(r.stdout);
    expect(review.changes.map((c: any) => [c.level, c.type, c.coordinate])).toEqual([['safe', 'FIELD_NOW_NON_NULL', 'Product.price']]);
    const introduced = review.nullability.findings.filter((f: any) => f.introduced);
    expect(introduced.map((f: any) => [f.path, f.nulls])).toEqual(
      expect.arrayContaining([
        ['Category.products.nodes → Product.price', 'Query.category'],
        ['Product.price', 'Query.product'],
        ['Product.price', 'Product.recommendations'],
      ]),
    );
    for (const f of introduced) {
      expect(f.coordinate).toBe('Product.price');
      expect(f.upstreams).toEqual(['pricing']);
      expect(f.advice).toBe('make Product.price nullable, or give pricing an onError fallback');
    }
    // Findings the base already had are listed, not failed on.
    expect(review.nullability.findings.filter((f: any) => !f.introduced).map((f: any) => f.coordinate)).toEqual(['Category.products', 'Category.products', 'Query.categories']);
    expect(review.nullability.changedFields).toEqual([
      {
        coordinate: 'Product.price',
        sources: [{ endpoint: 'pricing.pricesBySku', upstream: 'pricing', onError: 'stale' }],
        effect: 'propagates',
        staleFirst: true,
        wipes: expect.arrayContaining([{ nulls: 'Query.category', path: 'Category.products.nodes → Product.price' }]),
      },
    ]);

    const md = await check('--perimeter', perimeterFile);
    expect(md.code).toBe(1);
    expect(md.stdout).toContain('### Upstream failures of changed fields');
    expect(md.stdout).toContain('| `Product.price` | pricing.pricesBySku (stale) | the last cached value (stale), else null, which propagates (non-null) to Query.product (`Product.price`);');
    expect(md.stdout).toContain('| `Category.products.nodes → Product.price` | pricing | Query.category | make Product.price nullable, or give pricing an onError fallback | **yes** |');
  }, 240_000);

  it('a changed nullable field backed by an upstream: null here, after the stale value', async () => {
    git('checkout', '-q', '-b', 'describe-price');
    commit('schema/pricing.graphql', (s) => s.replace('"The product\'s price; null when pricing is unavailable."', '"The product\'s price (null when pricing is unavailable)."'), 'describe Product.price');
    const r = await check('--perimeter', perimeterFile, '--json');
    expect(r.code).toBe(0);
    const effects = JSON.parse(r.stdout).nullability.changedFields;
    expect(effects.map((e: any) => [e.coordinate, e.effect, e.staleFirst])).toEqual([['Product.price', 'null-here', true]]);
  }, 240_000);

  it('start-up in development warns of the same finding (warnNullabilityAtStart)', async () => {
    const modules = loadSchemaModules(join(ROOT, 'schema')).map((m) => (m.name === 'pricing' ? { ...m, sdl: m.sdl.replace('  price: Price @requires', '  price: Price! @requires') } : m));
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        cb();
      },
    });
    const findings = await warnNullabilityAtStart(createLogger({ level: 'warn', destination }), composeSchema(modules, resolvers));
    const warning = lines.find((l) => l.path === 'Category.products.nodes → Product.price');
    expect(warning).toMatchObject({
      level: 40,
      field: 'Product.price',
      nulls: 'Query.category',
      upstreams: ['pricing'],
      msg: 'nullability: Category.products.nodes → Product.price: a failure of pricing nulls Product.price, which is non-null, so null propagates to Query.category; make Product.price nullable, or give pricing an onError fallback.',
    });
    expect(lines).toHaveLength(findings.length);
    // The committed schema has only the findings schema:check lists as existing.
    const committed = await warnNullabilityAtStart(createLogger({ level: 'silent' }));
    expect(committed.map((f) => [f.coordinate, f.nulls])).toEqual([
      ['Category.products', 'Query.category'],
      ['Category.products', 'data (the whole response)'],
      ['Query.categories', 'data (the whole response)'],
    ]);
  }, 240_000);
});
