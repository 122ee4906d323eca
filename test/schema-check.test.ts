/**
 * `npm run schema:check` on commits of a temporary git repository holding a copy of this project's
 * schema modules, operations and schema.graphql: the script runs as a real process, as CI runs it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { coordinateOf, moduleOwner } from '../scripts/schema-check.js';
import { derivePerimeterMap } from '../src/main.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let repo: string;
/** The perimeter map, derived once: each run reads it (`--perimeter`) instead of probing the sandbox again. */
let perimeterFile: string;

const git = (...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=schema-check-test', '-c', 'user.email=test@example.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd: repo, encoding: 'utf8' }).trim();

function check(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/schema-check.ts'), '--root', repo, '--perimeter', perimeterFile, ...args], { cwd: ROOT }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Edits a file of the temporary repository and commits it on the current branch. */
function commit(path: string, edit: (s: string) => string, message: string): void {
  const file = join(repo, path);
  const before = readFileSync(file, 'utf8');
  const after = edit(before);
  expect(after).not.toBe(before);
  writeFileSync(file, after);
  git('add', '-A');
  git('commit', '-q', '-m', message);
}

beforeAll(async () => {
  repo = mkdtempSync(join(tmpdir(), 'tributary-schema-check-'));
  perimeterFile = join(mkdtempSync(join(tmpdir(), 'tributary-perimeter-')), 'perimeter.json');
  writeFileSync(perimeterFile, JSON.stringify(await derivePerimeterMap()));
  for (const p of ['schema', 'operations', 'schema.graphql']) cpSync(join(ROOT, p), join(repo, p), { recursive: true });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'base');
});
afterAll(() => {
  if (repo) rmSync(repo, { recursive: true, force: true });
  if (perimeterFile) rmSync(join(perimeterFile, '..'), { recursive: true, force: true });
});
beforeEach(() => {
  // Every case is a branch off main, as a pull request is.
  git('checkout', '-q', '-f', 'main');
  git('clean', '-q', '-fd');
});

// Each case runs the script as a process several times: generous under a loaded machine.
describe('schema:check on commits', { timeout: 90_000 }, () => {
  it('main against itself: no change, exit 0', async () => {
    const r = await check();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('**0 breaking** (0 not acknowledged), 0 dangerous, 0 safe.');
    expect(r.stdout).toContain('**Result: pass.**');
  });

  it('a commit removing a field used by an operation: breaking, named with the operation, exit 1', async () => {
    git('checkout', '-q', '-b', 'remove-discount');
    commit('schema/pricing.graphql', (s) => s.replace(/\s*"Discount from the list price, in percent."\n\s*discountPercentage: Float!/, ''), 'remove Price.discountPercentage');
    const r = await check();
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Compared with merge base of HEAD and main');
    expect(r.stdout).toContain('**1 breaking** (1 not acknowledged)');
    expect(r.stdout).toContain('| Price.discountPercentage was removed. | `Price.discountPercentage` | ProductPage | **no** |');
    expect(r.stdout).toContain('`operations/ProductPage.graphql`: Cannot query field "discountPercentage" on type "Price".');
    expect(r.stdout).toContain('**Result: fail.**');
    // The committed schema.graphql is rewritten from the modules.
    expect(readFileSync(join(repo, 'schema.graphql'), 'utf8')).not.toContain('discountPercentage');
    const json = JSON.parse((await check('--json', '--no-write')).stdout);
    expect(json.changes.map((c: any) => [c.level, c.type, c.coordinate, c.usedBy, c.acknowledged])).toEqual([
      ['breaking', 'FIELD_REMOVED', 'Price.discountPercentage', ['ProductPage'], false],
    ]);
  });

  it('a breaking change no operation uses is acknowledged by the file or the flag', async () => {
    git('checkout', '-q', '-b', 'remove-api-version');
    commit('schema/base.graphql', (s) => s.replace(/\s*"The API's version[^\n]*\n\s*apiVersion: String!/, '\n  "Whether the service answers."\n  ping: Boolean'), 'replace Query.apiVersion');
    const unacked = await check('--no-write');
    expect(unacked.code).toBe(1);
    expect(unacked.stdout).toContain('| Query.apiVersion was removed. | `Query.apiVersion` | - | **no** |');
    const flag = await check('--no-write', '--ack', 'Query.apiVersion');
    expect(flag.code).toBe(0);
    expect(flag.stdout).toContain('| Query.apiVersion was removed. | `Query.apiVersion` | - | yes |');
    writeFileSync(join(repo, 'schema-changes.ack'), '# intended: apiVersion moves to a header\nQuery.apiVersion\n');
    const file = await check('--no-write');
    expect(file.code).toBe(0);
    expect(file.stdout).toContain('**1 breaking** (0 not acknowledged)');
  });

  it('a commit adding a nullable field: a safe change, exit 0', async () => {
    git('checkout', '-q', '-b', 'add-currency');
    commit('schema/pricing.graphql', (s) => s.replace('  discountPercentage: Float!\n', '  discountPercentage: Float!\n  "ISO 4217 code of every amount of this price."\n  currency: String\n'), 'add Price.currency');
    const r = await check();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('**0 breaking** (0 not acknowledged), 0 dangerous, 1 safe.');
    expect(r.stdout).toContain('| Price.currency was added (String). | `Price.currency` | - |');
    expect(readFileSync(join(repo, 'schema.graphql'), 'utf8')).toContain('currency: String');
  });

  it('a directive applied to a field is a dangerous change, named with the operations that use it', async () => {
    git('checkout', '-q', '-b', 'pii-discount');
    commit('schema/pricing.graphql', (s) => s.replace('  discountPercentage: Float!\n', '  discountPercentage: Float! @pii\n'), 'Price.discountPercentage is personal');
    const r = await check('--no-write');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('**0 breaking** (0 not acknowledged), 1 dangerous, 0 safe.');
    expect(r.stdout).toContain('| Price.discountPercentage is now @pii. | `Price.discountPercentage` | ProductPage |');
  });

  it('a field without a description and a module without an owner fail the check', async () => {
    git('checkout', '-q', '-b', 'undocumented');
    commit('schema/pricing.graphql', (s) => s.replace('# owner: pricing-team\n', '').replace('  discountPercentage: Float!\n', '  discountPercentage: Float!\n  tier: String\n'), 'undocumented field');
    const r = await check('--no-write');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('### Missing descriptions\n\n- `Price.tier`');
    expect(r.stdout).toContain('### Modules without an owner (`# owner: <team>`)\n\n- `schema/pricing.graphql`');
  });

  it('an unknown base or argument is a clear error', async () => {
    const r = await check('--base', 'no-such-ref', '--no-write');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Base `no-such-ref` could not be read');
    const u = await check('--nope');
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('unknown argument "--nope"');
  });
});

describe('schema:check helpers', () => {
  it('reads coordinates from graphql-js change descriptions', () => {
    expect(coordinateOf('Price.discountPercentage was removed.')).toBe('Price.discountPercentage');
    expect(coordinateOf('Price was removed.')).toBe('Price');
    expect(coordinateOf('IN_STOCK was removed from enum type StockStatus.')).toBe('StockStatus.IN_STOCK');
    expect(coordinateOf('Product.reviews arg first has changed type from Int to Int!.')).toBe('Product.reviews(first:)');
    expect(coordinateOf('A required arg limit on Query.products was added.')).toBe('Query.products(limit:)');
  });

  it('every committed module names its owner', () => {
    for (const m of ['accounts', 'base', 'catalog', 'checkout', 'inventory', 'pricing', 'recommendations', 'reviews', 'shipping']) {
      expect(moduleOwner(readFileSync(join(ROOT, 'schema', `${m}.graphql`), 'utf8'))).toMatch(/-team$/);
    }
  });
});
