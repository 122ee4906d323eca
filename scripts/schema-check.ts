/**
 * `npm run schema:check`: schema review for a pull request.
 *
 * 1. Composes the SDL modules of `schema/` and rewrites the committed `schema.graphql`.
 * 2. Compares the composed schema with a base (a git ref; default the merge base of HEAD with main):
 *    breaking, dangerous and safe changes, each breaking change with the client operations that use it.
 * 3. Checks that every type and field has a description, that every module names its owning team
 *    (`# owner: <team>` in its header), and that every operation in `operations/` still validates.
 * 4. Prints Markdown fit for a pull-request comment (or JSON with --json).
 *
 * Exit 1 when a breaking change is not acknowledged, or a check fails; 2 on bad usage. A breaking
 * change is acknowledged by listing its schema coordinate (`Price.discountPercentage`) in
 * `schema-changes.ack` (one per line, `#` comments), by `--ack <coordinate>`, or by `--allow-breaking`.
 *
 *   npm run schema:check
 *   npm run schema:check -- --base origin/main --ack Price.discountPercentage --report review.md
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  findBreakingChanges,
  findDangerousChanges,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isSpecifiedScalarType,
  parse,
  TypeInfo,
  validate,
  visit,
  visitWithTypeInfo,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';
import { composeSchema, printComposedSchema, type SchemaModule } from '../src/schema.js';

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
}

export interface SchemaReview {
  readonly base: { readonly ref: string; readonly commit: string } | { readonly ref: string; readonly error: string };
  readonly schemaFileRewritten: boolean;
  readonly changes: SchemaChange[];
  readonly missingDescriptions: string[];
  readonly missingOwners: string[];
  readonly invalidOperations: { readonly operation: string; readonly errors: string[] }[];
  readonly ok: boolean;
}

/** `# owner: team` in the comment header of a module (before its first definition). */
export function moduleOwner(sdl: string): string | undefined {
  for (const line of sdl.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    if (!t.startsWith('#')) break;
    const m = /^#\s*owner:\s*(\S.*)$/i.exec(t);
    if (m) return m[1]!.trim();
  }
  return undefined;
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
function baseSchema(root: string, ref: string): { commit: string; schema: GraphQLSchema } {
  const commit = git(root, ['rev-parse', '--verify', `${ref}^{commit}`]);
  let names: string[] = [];
  try {
    names = git(root, ['ls-tree', '--name-only', commit, 'schema/']).split('\n').filter((n) => n.endsWith('.graphql')).sort();
  } catch {
    names = [];
  }
  if (names.length) {
    const modules = names.map((n) => ({ name: n.replace(/^schema\//, '').replace(/\.graphql$/, ''), sdl: git(root, ['show', `${commit}:${n}`]) }));
    return { commit, schema: composeSchema(modules, {}) };
  }
  const printed = git(root, ['show', `${commit}:schema.graphql`]);
  return { commit, schema: composeSchema([{ name: 'schema', sdl: printed }], {}) };
}

/** Every `Type.field` and `Type.field(arg:)` each operation document uses, in a schema. */
export function operationUsage(schema: GraphQLSchema, operations: Map<string, string>): Map<string, Set<string>> {
  const usedBy = new Map<string, Set<string>>();
  const add = (coord: string, op: string) => {
    let s = usedBy.get(coord);
    if (!s) usedBy.set(coord, (s = new Set()));
    s.add(op);
  };
  for (const [name, text] of operations) {
    let doc;
    try {
      doc = parse(text);
    } catch {
      continue;
    }
    const info = new TypeInfo(schema);
    visit(
      doc,
      visitWithTypeInfo(info, {
        Field(node) {
          const parent = info.getParentType();
          if (!parent) return;
          add(parent.name, name);
          add(`${parent.name}.${node.name.value}`, name);
        },
        Argument(node) {
          const parent = info.getParentType();
          const field = info.getFieldDef();
          if (parent && field) add(`${parent.name}.${field.name}(${node.name.value}:)`, name);
        },
        NamedType(node) {
          add(node.name.value, name);
        },
      }),
    );
  }
  return usedBy;
}

/** The coordinate a graphql-js change description is about. */
export function coordinateOf(description: string): string {
  let m = /^(\w+) was removed from (?:enum|union) type (\w+)/.exec(description);
  if (m) return `${m[2]}.${m[1]}`;
  m = /^A required (?:arg|field) (\w+) on (?:input type )?([\w.]+) was added/.exec(description);
  if (m) return m[2]!.includes('.') ? `${m[2]}(${m[1]}:)` : `${m[2]}.${m[1]}`;
  m = /^([\w]+\.\w+) arg (\w+)/.exec(description);
  if (m) return `${m[1]}(${m[2]}:)`;
  m = /^(\w+(?:\.\w+)?)/.exec(description);
  return m ? m[1]! : description;
}

const userTypes = (schema: GraphQLSchema): GraphQLNamedType[] =>
  Object.values(schema.getTypeMap()).filter((t) => !t.name.startsWith('__') && !isSpecifiedScalarType(t));

type Extra = { level: 'dangerous' | 'safe'; type: string; coordinate: string; description: string };

/** Directive names applied to a type or field (its definition and its extensions). */
function appliedDirectives(node: { astNode?: unknown; extensionASTNodes?: readonly unknown[] }): string[] {
  const nodes = [node.astNode, ...(node.extensionASTNodes ?? [])] as ({ directives?: readonly { name: { value: string } }[] } | null | undefined)[];
  return [...new Set(nodes.flatMap((n) => n?.directives?.map((d) => d.name.value) ?? []))].filter((d) => d !== 'deprecated').sort();
}

/**
 * Changes graphql-js does not report: added types, output fields and directives, new descriptions and
 * deprecations (safe), and directives applied to or removed from a type or field (dangerous: e.g. a
 * field that becomes `@pii` is refused to clients without the permission).
 */
function extraChanges(base: GraphQLSchema, next: GraphQLSchema): Extra[] {
  const out: Extra[] = [];
  const directiveDiff = (coordinate: string, before: string[], after: string[]) => {
    for (const d of after) if (!before.includes(d)) out.push({ level: 'dangerous', type: 'DIRECTIVE_APPLIED', coordinate, description: `${coordinate} is now @${d}.` });
    for (const d of before) if (!after.includes(d)) out.push({ level: 'dangerous', type: 'DIRECTIVE_UNAPPLIED', coordinate, description: `${coordinate} is no longer @${d}.` });
  };
  for (const d of next.getDirectives()) {
    if (!base.getDirective(d.name)) out.push({ level: 'safe', type: 'DIRECTIVE_ADDED', coordinate: `@${d.name}`, description: `Directive @${d.name} was added.` });
  }
  for (const t of userTypes(next)) {
    const old = base.getType(t.name);
    if (old) directiveDiff(t.name, appliedDirectives(old), appliedDirectives(t));
    if (old && (isObjectType(t) || isInterfaceType(t)) && (isObjectType(old) || isInterfaceType(old))) {
      const oldFields = old.getFields();
      for (const f of Object.values(t.getFields())) {
        const of = oldFields[f.name];
        if (of) directiveDiff(`${t.name}.${f.name}`, appliedDirectives(of), appliedDirectives(f));
      }
    }
  }
  return [...out, ...safeChanges(base, next).map((c) => ({ level: 'safe' as const, ...c }))];
}

/** Additions graphql-js does not report (they cannot break a client): types, output fields, descriptions. */
function safeChanges(base: GraphQLSchema, next: GraphQLSchema): { type: string; coordinate: string; description: string }[] {
  const out: { type: string; coordinate: string; description: string }[] = [];
  for (const t of userTypes(next)) {
    const old = base.getType(t.name);
    if (!old) {
      out.push({ type: 'TYPE_ADDED', coordinate: t.name, description: `${t.name} was added.` });
      continue;
    }
    if ((old.description ?? '') !== (t.description ?? '')) out.push({ type: 'DESCRIPTION_CHANGED', coordinate: t.name, description: `${t.name} has a new description.` });
    if ((isObjectType(t) || isInterfaceType(t)) && (isObjectType(old) || isInterfaceType(old))) {
      const oldFields = old.getFields();
      for (const f of Object.values(t.getFields())) {
        const of = oldFields[f.name];
        const c = `${t.name}.${f.name}`;
        if (!of) out.push({ type: 'FIELD_ADDED', coordinate: c, description: `${c} was added (${String(f.type)}).` });
        else {
          if ((of.description ?? '') !== (f.description ?? '')) out.push({ type: 'DESCRIPTION_CHANGED', coordinate: c, description: `${c} has a new description.` });
          if (!of.deprecationReason && f.deprecationReason) out.push({ type: 'FIELD_DEPRECATED', coordinate: c, description: `${c} was deprecated: ${f.deprecationReason}` });
        }
      }
    }
  }
  return out;
}

/** Types and fields without a description. */
export function missingDescriptions(schema: GraphQLSchema): string[] {
  const out: string[] = [];
  for (const t of userTypes(schema)) {
    const isRoot = t === schema.getQueryType() || t === schema.getMutationType() || t === schema.getSubscriptionType();
    if (!t.description?.trim() && !isRoot) out.push(t.name);
    if (isObjectType(t) || isInterfaceType(t) || isInputObjectType(t)) {
      for (const f of Object.values(t.getFields())) if (!f.description?.trim()) out.push(`${t.name}.${f.name}`);
    }
    if (isEnumType(t)) for (const v of t.getValues()) if (!v.description?.trim()) out.push(`${t.name}.${v.name}`);
  }
  return out.sort();
}

export interface ReviewOptions {
  readonly root: string;
  readonly base?: string;
  readonly acknowledged?: readonly string[];
  readonly allowBreaking?: boolean;
  readonly write?: boolean;
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

  const chosen = opts.base ? { label: opts.base, rev: opts.base } : defaultBase(root);
  const ref = chosen.label;
  let base: SchemaReview['base'];
  const changes: SchemaChange[] = [];
  try {
    const b = baseSchema(root, chosen.rev);
    base = { ref, commit: b.commit };
    const usage = operationUsage(b.schema, operations);
    const used = (c: string) => [...(usage.get(c) ?? usage.get(c.replace(/\(.*$/, '')) ?? [])].sort();
    for (const c of findBreakingChanges(b.schema, next)) {
      const coordinate = coordinateOf(c.description);
      changes.push({ level: 'breaking', type: c.type, coordinate, description: c.description, usedBy: used(coordinate), acknowledged: Boolean(opts.allowBreaking) || ack.has(coordinate) || ack.has(c.description) });
    }
    for (const c of findDangerousChanges(b.schema, next)) {
      const coordinate = coordinateOf(c.description);
      changes.push({ level: 'dangerous', type: c.type, coordinate, description: c.description, usedBy: used(coordinate), acknowledged: true });
    }
    for (const c of extraChanges(b.schema, next)) changes.push({ ...c, usedBy: c.level === 'dangerous' ? used(c.coordinate) : [], acknowledged: true });
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
  const ok =
    !('error' in base) &&
    changes.every((c) => c.level !== 'breaking' || c.acknowledged) &&
    !missing.length &&
    !missingOwners.length &&
    !invalidOperations.length;
  return { base, schemaFileRewritten, changes, missingDescriptions: missing, missingOwners, invalidOperations, ok };
}

/** Markdown for a pull-request comment. */
export function toMarkdown(r: SchemaReview): string {
  const by = (level: SchemaChange['level']) => r.changes.filter((c) => c.level === level);
  const breaking = by('breaking');
  const open = breaking.filter((c) => !c.acknowledged);
  const lines: string[] = ['## Schema review', ''];
  lines.push(
    'error' in r.base
      ? `Base \`${r.base.ref}\` could not be read: ${r.base.error}`
      : `Compared with ${r.base.ref} (\`${r.base.commit.slice(0, 12)}\`): **${breaking.length} breaking** (${open.length} not acknowledged), ${by('dangerous').length} dangerous, ${by('safe').length} safe.`,
  );
  if (r.schemaFileRewritten) lines.push('', '`schema.graphql` was not current and has been rewritten: commit it.');
  const table = (title: string, list: SchemaChange[], withStatus: boolean) => {
    if (!list.length) return;
    lines.push('', `### ${title}`, '', withStatus ? '| change | coordinate | used by operations | acknowledged |' : '| change | coordinate | used by operations |', withStatus ? '| --- | --- | --- | --- |' : '| --- | --- | --- |');
    for (const c of list) {
      const cells = [c.description, `\`${c.coordinate}\``, c.usedBy.join(', ') || '-'];
      if (withStatus) cells.push(c.acknowledged ? 'yes' : '**no**');
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
  lines.push('', r.ok ? '**Result: pass.**' : `**Result: fail.**${open.length ? ' Acknowledge an intended breaking change by adding its coordinate to `schema-changes.ack`.' : ''}`);
  return `${lines.join('\n')}\n`;
}

class UsageError extends Error {}

interface CliArgs {
  root: string;
  base?: string;
  ack: string[];
  allowBreaking: boolean;
  json: boolean;
  report?: string;
  write: boolean;
}

function parseArgs(argv: readonly string[]): CliArgs {
  const a: CliArgs = { root: fileURLToPath(new URL('..', import.meta.url)), ack: [], allowBreaking: false, json: false, write: true };
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
    else if (arg === '--json') a.json = true;
    else if (arg === '--report') a.report = value();
    else if (arg === '--root') a.root = value();
    else if (arg === '--no-write') a.write = false;
    else throw new UsageError(`unknown argument ${JSON.stringify(arg)} (use --base <ref>, --ack <coordinate>, --allow-breaking, --report <file>, --json, --root <dir>, --no-write)`);
  }
  return a;
}

/** Runs the CLI; returns the exit code. */
export function main(argv: readonly string[]): number {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`schema:check: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  let review: SchemaReview;
  try {
    review = reviewSchema({ root: args.root, ...(args.base ? { base: args.base } : {}), acknowledged: args.ack, allowBreaking: args.allowBreaking, write: args.write });
  } catch (e) {
    process.stderr.write(`schema:check: the schema does not compose: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const md = toMarkdown(review);
  if (args.report) writeFileSync(args.report, md);
  process.stdout.write(args.json ? `${JSON.stringify(review, null, 2)}\n` : md);
  return review.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
