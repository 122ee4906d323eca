/**
 * `npm run schema:check`: schema review for a pull request.
 *
 * 1. Composes the SDL modules of `schema/` and rewrites the committed `schema.graphql`.
 * 2. Compares the composed schema with a base (a git ref; default the merge base of HEAD with main):
 *    breaking, dangerous and safe changes, each breaking change with the client operations that use it.
 * 3. Checks that every type and field has a description, that every module names its owning team
 *    (`# owner: <team>` in its header), and that every operation in `operations/` still validates.
 * 4. With `--usage <url-or-file>` (the gateway's `GET /admin/usage`, or a file saved from it): each
 *    breaking change is `used` (clients, operations, requests, last seen over `--usage-days`, default
 *    30) or `unused`; an unused one passes, a used one fails naming its clients.
 * 5. Lists `@deprecated` coordinates with their usage, the owners (`# owner:`) of the modules a change
 *    touches, and what a failure of the upstream behind each changed field does to the answer
 *    (nullability review); a non-null field an upstream failure would null, wiping its parent, is
 *    reported with its path, and fails the check when this change introduces it.
 * 6. Prints Markdown fit for a pull-request comment (`--format markdown`, the default) or JSON
 *    (`--format json`, or `--json`).
 *
 * Exit 1 when a breaking change is not acknowledged (nor unused, with --usage), or a check fails;
 * 2 on bad usage. A breaking change is acknowledged by listing its schema coordinate
 * (`Price.discountPercentage`) in `schema-changes.ack` (one per line, `#` comments), by
 * `--ack <coordinate>`, or by `--allow-breaking`.
 *
 *   npm run schema:check
 *   npm run schema:check -- --base origin/main --ack Price.discountPercentage --report review.md
 *   ADMIN_TOKEN=… npm run schema:check -- --usage https://gateway.internal --usage-days 14 --format markdown
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { findBreakingChanges, findDangerousChanges, parse, validate, type GraphQLSchema } from 'graphql';
import { composeSchema, printComposedSchema, type SchemaModule } from '../src/schema.js';
import { coordinateOf, deprecatedCoordinates, extraChanges, missingDescriptions, operationUsage } from '../src/schema-review/changes.js';
import { declarations, moduleOwner, ownerOf, type ModuleOwner } from '../src/schema-review/owners.js';
import { failureEffects, nullabilityFindings, type FailureEffect, type FieldSource, type NullabilityFinding } from '../src/schema-review/nullability.js';
import { changeUsage, usageText, type ChangeUsage } from '../src/schema-review/usage.js';
import type { UsageExport } from '../src/usage/types.js';
import { parseUsageExport } from '../src/usage/summary.js';
import { fieldSources } from '../src/schema-review/nullability.js';
import type { UpstreamDef } from '../src/connector/index.js';
import type { PerimeterMap } from '../src/perimeter/index.js';
import { renderExtras } from '../src/schema-review/render.js';

export { coordinateOf, deprecatedCoordinates, missingDescriptions, moduleOwner, operationUsage };

/** One change between the base schema and the new one. */
export interface SchemaChange {
  readonly level: 'breaking' | 'dangerous' | 'safe';
  /** graphql-js's change type (FIELD_REMOVED...) or ours for safe changes (FIELD_ADDED...). */
  readonly type: string;
  /** Schema coordinate the change is about (`Price.discountPercentage`). */
  readonly coordinate: string;
  readonly description: string;
  /** Client operations (from `operations/`) that use the coordinate in the base schema. */
  readonly usedBy: string[];
  readonly acknowledged: boolean;
  /** The module declaring the coordinate (new schema, else base) and its owner. */
  readonly owner?: ModuleOwner | undefined;
  /** With --usage: who read it over the period. */
  readonly usage?: ChangeUsage | undefined;
}

/** A `@deprecated` coordinate of the new schema, with who still uses it. */
export interface Deprecation {
  readonly coordinate: string;
  readonly reason: string;
  readonly usedBy: string[];
  readonly owner?: ModuleOwner | undefined;
  readonly usage?: ChangeUsage | undefined;
}

export interface SchemaReview {
  readonly base: { readonly ref: string; readonly commit: string } | { readonly ref: string; readonly error: string };
  readonly schemaFileRewritten: boolean;
  readonly changes: SchemaChange[];
  readonly missingDescriptions: string[];
  readonly missingOwners: string[];
  readonly invalidOperations: { readonly operation: string; readonly errors: string[] }[];
  readonly deprecations: Deprecation[];
  /** The usage read (--usage): where from, the period, the store. */
  readonly usage?: { readonly source: string; readonly days: number; readonly store: string; readonly to: string } | undefined;
  /** Nullability review; absent with --no-nullability. */
  readonly nullability?: {
    /** What a failure of the upstream behind each changed field does. */
    readonly changedFields: FailureEffect[];
    /** Non-null fields an upstream failure would null, wiping a parent; `introduced` ones are new with this change. */
    readonly findings: (NullabilityFinding & { readonly introduced: boolean })[];
  } | undefined;
  readonly ok: boolean;
}

function loadModulesFromDir(dir: string): SchemaModule[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.graphql'))
    .sort()
    .map((f) => ({ name: f.replace(/\.graphql$/, ''), sdl: readFileSync(join(dir, f), 'utf8') }));
}

const git = (root: string, args: string[]): string => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** The default base: the merge base of HEAD with main (or origin/main), else HEAD itself. */
function defaultBase(root: string): { label: string; rev: string } {
  for (const main of ['main', 'origin/main']) {
    try {
      return { label: `merge base of HEAD and ${main}`, rev: git(root, ['merge-base', 'HEAD', main]) };
    } catch {
      // try the next
    }
  }
  return { label: 'HEAD', rev: 'HEAD' };
}

/** The schema at a git ref: its modules composed, or its committed schema.graphql when it has none. */
function baseSchema(root: string, ref: string): { commit: string; schema: GraphQLSchema; modules: SchemaModule[] } {
  const commit = git(root, ['rev-parse', '--verify', `${ref}^{commit}`]);
  let names: string[] = [];
  try {
    names = git(root, ['ls-tree', '--name-only', commit, 'schema/']).split('\n').filter((n) => n.endsWith('.graphql')).sort();
  } catch {
    names = [];
  }
  if (names.length) {
    const modules = names.map((n) => ({ name: n.replace(/^schema\//, '').replace(/\.graphql$/, ''), sdl: git(root, ['show', `${commit}:${n}`]) }));
    return { commit, schema: composeSchema(modules, {}), modules };
  }
  const printed = git(root, ['show', `${commit}:schema.graphql`]);
  return { commit, schema: composeSchema([{ name: 'schema', sdl: printed }], {}), modules: [] };
}

export interface ReviewOptions {
  readonly root: string;
  readonly base?: string;
  readonly acknowledged?: readonly string[];
  readonly allowBreaking?: boolean;
  readonly write?: boolean;
  /** Recorded field usage (--usage), and where it came from. */
  readonly usage?: { readonly data: UsageExport; readonly source: string } | undefined;
  /** Days of usage to look at (default 30). */
  readonly usageDays?: number;
  /** The endpoints each upstream-backed field loads from, with their on-error policy (nullability review). */
  readonly sources?: ReadonlyMap<string, readonly FieldSource[]> | undefined;
}

/** Runs the review. Throws only when the new schema does not compose (a clear message). */
export function reviewSchema(opts: ReviewOptions): SchemaReview {
  const root = resolve(opts.root);
  const modules = loadModulesFromDir(join(root, 'schema'));
  if (!modules.length) throw new Error(`no schema modules in ${join(root, 'schema')}`);
  const next = composeSchema(modules, {});

  const printed = printComposedSchema(next);
  const target = join(root, 'schema.graphql');
  const current = existsSync(target) ? readFileSync(target, 'utf8') : '';
  const schemaFileRewritten = current !== printed;
  if (schemaFileRewritten && opts.write !== false) writeFileSync(target, printed);

  const opsDir = join(root, 'operations');
  const operations = new Map<string, string>(
    existsSync(opsDir)
      ? readdirSync(opsDir)
          .filter((f) => f.endsWith('.graphql'))
          .sort()
          .map((f) => [f.replace(/\.graphql$/, ''), readFileSync(join(opsDir, f), 'utf8')] as [string, string])
      : [],
  );

  const ack = new Set(opts.acknowledged ?? []);
  const ackFile = join(root, 'schema-changes.ack');
  if (existsSync(ackFile)) {
    for (const line of readFileSync(ackFile, 'utf8').split('\n')) {
      const t = line.replace(/#.*$/, '').trim();
      if (t) ack.add(t);
    }
  }

  const days = opts.usageDays ?? 30;
  const newDecl = declarations(modules);
  let baseDecl = new Map<string, ModuleOwner>();
  let baseForUsage: GraphQLSchema = next;
  const usageOf = (coordinate: string, type: string) => (opts.usage ? changeUsage(opts.usage.data, baseForUsage, coordinate, type, days) : undefined);
  const chosen = opts.base ? { label: opts.base, rev: opts.base } : defaultBase(root);
  const ref = chosen.label;
  let base: SchemaReview['base'];
  let baseSchemaRead: GraphQLSchema | undefined;
  const changes: SchemaChange[] = [];
  try {
    const b = baseSchema(root, chosen.rev);
    base = { ref, commit: b.commit };
    baseDecl = declarations(b.modules);
    baseForUsage = b.schema;
    baseSchemaRead = b.schema;
    const usage = operationUsage(b.schema, operations);
    const used = (c: string) => [...(usage.get(c) ?? usage.get(c.replace(/\(.*$/, '')) ?? [])].sort();
    for (const c of findBreakingChanges(b.schema, next)) {
      const coordinate = coordinateOf(c.description);
      changes.push({
        level: 'breaking',
        type: c.type,
        coordinate,
        description: c.description,
        usedBy: used(coordinate),
        acknowledged: Boolean(opts.allowBreaking) || ack.has(coordinate) || ack.has(c.description),
        owner: ownerOf(coordinate, newDecl, baseDecl),
        usage: usageOf(coordinate, c.type),
      });
    }
    for (const c of findDangerousChanges(b.schema, next)) {
      const coordinate = coordinateOf(c.description);
      changes.push({ level: 'dangerous', type: c.type, coordinate, description: c.description, usedBy: used(coordinate), acknowledged: true, owner: ownerOf(coordinate, newDecl, baseDecl), usage: usageOf(coordinate, c.type) });
    }
    for (const c of extraChanges(b.schema, next)) {
      changes.push({ ...c, usedBy: c.level === 'dangerous' ? used(c.coordinate) : [], acknowledged: true, owner: ownerOf(c.coordinate, newDecl, baseDecl), usage: c.level === 'dangerous' ? usageOf(c.coordinate, c.type) : undefined });
    }
  } catch (e) {
    const msg = e instanceof Error ? (e as Error & { stderr?: string }).stderr?.toString().trim() || e.message : String(e);
    base = { ref, error: msg.split('\n')[0]! };
  }

  const invalidOperations: SchemaReview['invalidOperations'] = [];
  for (const [name, text] of operations) {
    try {
      const errors = validate(next, parse(text)).map((e) => e.message);
      if (errors.length) invalidOperations.push({ operation: name, errors });
    } catch (e) {
      invalidOperations.push({ operation: name, errors: [e instanceof Error ? e.message : String(e)] });
    }
  }
  const missingOwners = modules.filter((m) => !moduleOwner(m.sdl)).map((m) => `schema/${m.name}.graphql`);
  const missing = missingDescriptions(next);

  const nextUsage = operationUsage(next, operations);
  const deprecations: Deprecation[] = deprecatedCoordinates(next).map((d) => ({
    ...d,
    usedBy: [...(nextUsage.get(d.coordinate) ?? [])].sort(),
    owner: ownerOf(d.coordinate, newDecl),
    usage: opts.usage ? changeUsage(opts.usage.data, next, d.coordinate, 'DEPRECATED', days) : undefined,
  }));

  let nullability: SchemaReview['nullability'];
  if (opts.sources) {
    const key = (f: NullabilityFinding) => `${f.coordinate}\n${f.nulls}\n${f.path}`;
    const before = new Set(baseSchemaRead ? nullabilityFindings(baseSchemaRead, opts.sources).map(key) : []);
    const findings = nullabilityFindings(next, opts.sources).map((f) => ({ ...f, introduced: baseSchemaRead !== undefined && !before.has(key(f)) }));
    const changedFields = new Set(changes.filter((c) => /^\w+\.\w+$/.test(c.coordinate)).map((c) => c.coordinate));
    nullability = { changedFields: failureEffects(next, opts.sources, changedFields), findings };
  }

  // With usage, a breaking change nobody used over the period passes; one in use needs acknowledging.
  const passes = (c: SchemaChange) => c.level !== 'breaking' || c.acknowledged || c.usage?.status === 'unused';
  const ok =
    !('error' in base) &&
    changes.every(passes) &&
    !missing.length &&
    !missingOwners.length &&
    !invalidOperations.length &&
    !(nullability?.findings.some((f) => f.introduced) ?? false);
  const usageInfo = opts.usage ? { source: opts.usage.source, days, store: opts.usage.data.store, to: new Date(opts.usage.data.to).toISOString() } : undefined;
  return { base, schemaFileRewritten, changes, missingDescriptions: missing, missingOwners, invalidOperations, deprecations, usage: usageInfo, nullability, ok };
}

/** Markdown for a pull-request comment. */
export function toMarkdown(r: SchemaReview): string {
  const by = (level: SchemaChange['level']) => r.changes.filter((c) => c.level === level);
  const breaking = by('breaking');
  const open = breaking.filter((c) => !c.acknowledged);
  const inUse = open.filter((c) => c.usage?.status === 'used');
  const lines: string[] = ['## Schema review', ''];
  lines.push(
    'error' in r.base
      ? `Base \`${r.base.ref}\` could not be read: ${r.base.error}`
      : `Compared with ${r.base.ref} (\`${r.base.commit.slice(0, 12)}\`): **${breaking.length} breaking** (${open.length} not acknowledged), ${by('dangerous').length} dangerous, ${by('safe').length} safe.`,
  );
  if (r.usage) lines.push('', `Field usage from ${r.usage.source} (${r.usage.store}), over the ${r.usage.days} days before ${r.usage.to}.`);
  if (r.schemaFileRewritten) lines.push('', '`schema.graphql` was not current and has been rewritten: commit it.');
  const withUsage = r.usage !== undefined;
  const table = (title: string, list: SchemaChange[], withStatus: boolean) => {
    if (!list.length) return;
    const head = ['change', 'coordinate', 'used by operations', ...(withUsage && title !== 'Safe changes' ? [`usage (${r.usage!.days} days)`] : []), ...(withStatus ? ['acknowledged'] : [])];
    lines.push('', `### ${title}`, '', `| ${head.join(' | ')} |`, `|${' --- |'.repeat(head.length)}`);
    for (const c of list) {
      const cells = [c.description, `\`${c.coordinate}\``, c.usedBy.join(', ') || '-'];
      if (withUsage && title !== 'Safe changes') cells.push(c.usage ? usageText(c.usage) : '-');
      if (withStatus) cells.push(c.acknowledged ? 'yes' : c.usage?.status === 'unused' ? 'not needed (unused)' : '**no**');
      lines.push(`| ${cells.map((x) => x.replace(/\|/g, '\\|')).join(' | ')} |`);
    }
  };
  table('Breaking changes', breaking, true);
  table('Dangerous changes', by('dangerous'), false);
  table('Safe changes', by('safe'), false);
  if (r.invalidOperations.length) {
    lines.push('', '### Operations that no longer validate', '');
    for (const o of r.invalidOperations) for (const e of o.errors) lines.push(`- \`operations/${o.operation}.graphql\`: ${e}`);
  }
  if (r.missingDescriptions.length) lines.push('', '### Missing descriptions', '', ...r.missingDescriptions.map((c) => `- \`${c}\``));
  if (r.missingOwners.length) lines.push('', '### Modules without an owner (`# owner: <team>`)', '', ...r.missingOwners.map((m) => `- \`${m}\``));
  lines.push(...renderExtras(r));
  const blocking = open.filter((c) => c.usage?.status !== 'unused');
  const clientsInUse = [...new Set(inUse.flatMap((c) => c.usage!.clients.map((x) => x.name)))];
  lines.push(
    '',
    r.ok
      ? '**Result: pass.**'
      : `**Result: fail.**${inUse.length ? ` Breaking changes still in use by ${clientsInUse.join(', ')}: ${inUse.map((c) => `\`${c.coordinate}\``).join(', ')}.` : ''}${blocking.length ? ' Acknowledge an intended breaking change by adding its coordinate to `schema-changes.ack`.' : ''}`,
  );
  return `${lines.join('\n')}\n`;
}

class UsageError extends Error {}

interface CliArgs {
  root: string;
  base?: string;
  ack: string[];
  allowBreaking: boolean;
  format: 'markdown' | 'json';
  report?: string;
  write: boolean;
  usage?: string;
  usageDays: number;
  perimeter?: string;
  nullability: boolean;
}

const ARGS_HELP =
  'use --base <ref>, --ack <coordinate>, --allow-breaking, --report <file>, --format markdown|json, --json, --root <dir>, --no-write, --usage <url-or-file>, --usage-days <n>, --perimeter <file>, --no-nullability';

function parseArgs(argv: readonly string[]): CliArgs {
  const a: CliArgs = { root: fileURLToPath(new URL('..', import.meta.url)), ack: [], allowBreaking: false, format: 'markdown', write: true, usageDays: 30, nullability: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--base') a.base = value();
    else if (arg === '--ack') a.ack.push(value());
    else if (arg === '--allow-breaking') a.allowBreaking = true;
    else if (arg === '--json') a.format = 'json';
    else if (arg === '--format') {
      const f = value();
      if (f !== 'markdown' && f !== 'json') throw new UsageError(`--format must be markdown or json, but is ${JSON.stringify(f)}`);
      a.format = f;
    } else if (arg === '--report') a.report = value();
    else if (arg === '--root') a.root = value();
    else if (arg === '--no-write') a.write = false;
    else if (arg === '--usage') a.usage = value();
    else if (arg === '--usage-days') {
      const v = value();
      const n = Number(v);
      if (!(Number.isFinite(n) && n > 0)) throw new UsageError(`--usage-days must be a number > 0, but is ${JSON.stringify(v)}`);
      a.usageDays = n;
    } else if (arg === '--perimeter') a.perimeter = value();
    else if (arg === '--no-nullability') a.nullability = false;
    else throw new UsageError(`unknown argument ${JSON.stringify(arg)} (${ARGS_HELP})`);
  }
  return a;
}

/**
 * The usage export from a gateway (`https://gw`, or its `/admin/usage` URL; the admin token from
 * `ADMIN_TOKEN`) or from a file saved from it.
 */
async function loadUsage(source: string, days: number): Promise<UsageExport> {
  let raw: unknown;
  if (/^https?:\/\//i.test(source)) {
    const url = new URL(source);
    if (!url.pathname.endsWith('/admin/usage')) url.pathname = `${url.pathname.replace(/\/$/, '')}/admin/usage`;
    url.searchParams.set('days', String(days));
    const token = process.env.ADMIN_TOKEN;
    const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    if (!res.ok) throw new Error(`${url.origin}${url.pathname} answered ${res.status}${res.status === 401 ? ' (set ADMIN_TOKEN)' : ''}`);
    raw = await res.json();
  } else {
    raw = JSON.parse(readFileSync(source, 'utf8'));
  }
  return parseUsageExport(raw);
}

/**
 * The endpoints each upstream-backed field of the reviewed schema loads from: a saved perimeter map
 * (`npm run perimeter -- --json --out map.json`), or one derived now by running this project's
 * resolvers, over the reviewed schema, against an in-process sandbox.
 */
async function loadSources(root: string, perimeterFile: string | undefined): Promise<Map<string, FieldSource[]>> {
  const { upstreams } = await import('../upstreams/index.js');
  const defs = Object.values(upstreams) as UpstreamDef[];
  if (perimeterFile) return fieldSources((JSON.parse(readFileSync(perimeterFile, 'utf8')) as PerimeterMap).fields, defs);
  const [{ derivePerimeterMap }, { resolvers }, { makeExecutableSchema }] = await Promise.all([import('../src/main.js'), import('../resolvers/index.js'), import('@graphql-tools/schema')]);
  // The reviewed modules may drop a field this project still resolves: resolvers are matched loosely here.
  const schema = makeExecutableSchema({ typeDefs: loadModulesFromDir(join(root, 'schema')).map((m) => m.sdl), resolvers: resolvers as never, resolverValidationOptions: { requireResolversToMatchSchema: 'ignore' } });
  const map = await derivePerimeterMap({ schema, clients: [] });
  return fieldSources(map.fields, defs);
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`schema:check: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  let usage: ReviewOptions['usage'];
  if (args.usage) {
    try {
      usage = { data: await loadUsage(args.usage, args.usageDays), source: args.usage };
    } catch (e) {
      process.stderr.write(`schema:check: the usage could not be read from ${args.usage}: ${e instanceof Error ? e.message : String(e)}\n`);
      return 2;
    }
  }
  let sources: Map<string, FieldSource[]> | undefined;
  if (args.nullability) {
    try {
      sources = await loadSources(resolve(args.root), args.perimeter);
    } catch (e) {
      process.stderr.write(`schema:check: no nullability review (the field → upstream map could not be derived: ${e instanceof Error ? e.message : String(e)})\n`);
    }
  }
  let review: SchemaReview;
  try {
    review = reviewSchema({ root: args.root, ...(args.base ? { base: args.base } : {}), acknowledged: args.ack, allowBreaking: args.allowBreaking, write: args.write, usage, usageDays: args.usageDays, sources });
  } catch (e) {
    process.stderr.write(`schema:check: the schema does not compose: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const text = args.format === 'json' ? `${JSON.stringify(review, null, 2)}\n` : toMarkdown(review);
  if (args.report) writeFileSync(args.report, text);
  process.stdout.write(text);
  return review.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`schema:check failed: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
