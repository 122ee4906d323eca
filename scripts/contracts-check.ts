/**
 * `npm run contracts:check`: compares the response schema each endpoint of `upstreams/*.ts` declares
 * (TypeBox, i.e. JSON Schema) with the OpenAPI document its upstream serves at `GET /openapi.json`, or
 * with a file, and reports where they disagree, so drift is caught before it reaches production.
 *
 *   npm run contracts:check                          # every upstream; UPSTREAM_<NAME>_URL or the in-process sandbox
 *   npm run contracts:check -- --file pricing=./pricing-openapi.json --upstream pricing
 *   npm run contracts:check -- --url catalog=https://catalog.internal --json
 *
 * A disagreement is an error (exit 1): a field we require that the document lacks or makes optional,
 * a type or enum value the document allows and we do not accept. A field we declare optional that the
 * document does not mention, or a type the document leaves open, is a warning. Exit 2: bad usage.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { UpstreamDef } from '../src/connector/index.js';
import { endpointRoute } from '../src/perimeter/route.js';

export { endpointRoute };

type Json = Record<string, unknown>;

/** One disagreement between a declared schema and an upstream's document. */
export interface ContractFinding {
  readonly severity: 'error' | 'warning';
  readonly upstream: string;
  readonly endpoint: string;
  /** `GET /v1/prices`, as the definition calls it. */
  readonly route: string;
  /** JSON pointer into the response body. */
  readonly pointer: string;
  readonly problem: string;
}

export interface ContractReport {
  readonly upstreams: { readonly name: string; readonly source: string; readonly endpoints: number }[];
  readonly findings: ContractFinding[];
}

const segs = (p: string) => p.replace(/\/+$/, '').split('/');
const isParam = (s: string) => /^\{[^}]+\}$/.test(s);

function findOperation(doc: Json, route: { method: string; path: string }): { path: string; op: Json } | undefined {
  const paths = (doc.paths ?? {}) as Record<string, Json>;
  const want = segs(route.path);
  // Most literal document paths first, so `/products/search` wins over `/products/{id}`.
  const entries = Object.entries(paths).sort(([a], [b]) => segs(a).filter(isParam).length - segs(b).filter(isParam).length);
  for (const [p, item] of entries) {
    const have = segs(p);
    if (have.length !== want.length) continue;
    // A parameter of the route matches only a parameter of the document; a document parameter matches a literal.
    if (!have.every((s, i) => s === want[i] || (isParam(s) && (isParam(want[i]!) || want[i] !== '')))) continue;
    const op = item[route.method.toLowerCase()] as Json | undefined;
    if (op) return { path: p, op };
  }
  return undefined;
}

function resolve(doc: Json, schema: unknown, depth = 0): Json {
  const s = (schema ?? {}) as Json;
  if (typeof s.$ref === 'string' && depth < 32) {
    const m = /^#\/(.*)$/.exec(s.$ref);
    if (!m) return {};
    let node: unknown = doc;
    for (const part of m[1]!.split('/')) node = (node as Json | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    return resolve(doc, node, depth + 1);
  }
  return s;
}

const typeOfValue = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'number' ? (Number.isInteger(v) ? 'integer' : 'number') : typeof v;

/** The JSON types a schema admits (undefined: any), and its allowed values when it lists them. */
function shape(doc: Json, schema: Json): { types: Set<string> | undefined; values: unknown[] | undefined } {
  const s = resolve(doc, schema);
  const branches = (s.anyOf ?? s.oneOf) as Json[] | undefined;
  if (Array.isArray(branches)) {
    const types = new Set<string>();
    let values: unknown[] | undefined = [];
    for (const b of branches) {
      const sh = shape(doc, b);
      if (!sh.types) return { types: undefined, values: undefined };
      for (const t of sh.types) types.add(t);
      values = values && sh.values ? [...values, ...sh.values] : undefined;
    }
    return { types, values };
  }
  if ('const' in s) return { types: new Set([typeOfValue(s.const)]), values: [s.const] };
  if (Array.isArray(s.enum)) return { types: new Set(s.enum.map(typeOfValue)), values: s.enum };
  if (typeof s.type === 'string') return { types: new Set([s.type]), values: undefined };
  if (Array.isArray(s.type)) return { types: new Set(s.type as string[]), values: undefined };
  return { types: undefined, values: undefined };
}

const accepts = (declared: Set<string>, t: string) => declared.has(t) || (t === 'integer' && declared.has('number'));

/** First branch of a declared union that is an object/array, to descend into. */
function pick(doc: Json, schema: Json, type: string): Json | undefined {
  const s = resolve(doc, schema);
  const branches = (s.anyOf ?? s.oneOf) as Json[] | undefined;
  if (Array.isArray(branches)) {
    for (const b of branches) {
      const r = pick(doc, b, type);
      if (r) return r;
    }
    return undefined;
  }
  return s.type === type || (Array.isArray(s.type) && s.type.includes(type)) ? s : undefined;
}

/**
 * Compares what we declare (`declared`) with what the document says the upstream sends (`served`).
 * Every problem is reported with the JSON pointer of the response location.
 */
export function compareSchemas(declared: Json, served: Json, doc: Json, pointer = ''): { severity: 'error' | 'warning'; pointer: string; problem: string }[] {
  const out: { severity: 'error' | 'warning'; pointer: string; problem: string }[] = [];
  const at = pointer || '/';
  const d = shape({}, declared);
  const s = shape(doc, served);
  if (d.types && !s.types) {
    out.push({ severity: 'warning', pointer: at, problem: `the document does not constrain the type; declared ${[...d.types].join(' | ')}` });
  } else if (d.types && s.types) {
    const foreign = [...s.types].filter((t) => !accepts(d.types!, t));
    if (foreign.length) {
      out.push({ severity: 'error', pointer: at, problem: `the document allows ${foreign.join(' | ')}; declared ${[...d.types].join(' | ')}` });
      return out;
    }
  }
  if (d.values) {
    if (!s.values) out.push({ severity: 'error', pointer: at, problem: `the document allows any value; declared only ${d.values.map((v) => JSON.stringify(v)).join(', ')}` });
    else {
      const extra = s.values.filter((v) => !d.values!.some((w) => w === v));
      if (extra.length) out.push({ severity: 'error', pointer: at, problem: `the document allows ${extra.map((v) => JSON.stringify(v)).join(', ')}, which is not declared` });
    }
  }
  const dObj = pick({}, declared, 'object');
  const sObj = pick(doc, served, 'object');
  if (dObj && sObj) {
    const dProps = (dObj.properties ?? {}) as Record<string, Json>;
    const sProps = (sObj.properties ?? {}) as Record<string, Json>;
    const dReq = new Set((dObj.required ?? []) as string[]);
    const sReq = new Set((sObj.required ?? []) as string[]);
    for (const [name, sub] of Object.entries(dProps)) {
      const p = `${pointer}/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (!(name in sProps)) {
        if (dReq.has(name)) out.push({ severity: 'error', pointer: p, problem: 'required here, absent from the document' });
        else out.push({ severity: 'warning', pointer: p, problem: 'declared (optional), not in the document' });
        continue;
      }
      if (dReq.has(name) && !sReq.has(name)) out.push({ severity: 'error', pointer: p, problem: 'required here, optional in the document' });
      out.push(...compareSchemas(sub, sProps[name]!, doc, p));
    }
  }
  const dArr = pick({}, declared, 'array');
  const sArr = pick(doc, served, 'array');
  if (dArr && sArr && dArr.items && typeof dArr.items === 'object') {
    out.push(...compareSchemas(dArr.items as Json, (sArr.items ?? {}) as Json, doc, `${pointer}/*`));
  }
  return out;
}

/** Compares every endpoint of one upstream definition with its OpenAPI document. */
export function checkUpstream(def: UpstreamDef, doc: Json): ContractFinding[] {
  const findings: ContractFinding[] = [];
  for (const [endpoint, ep] of Object.entries(def.endpoints)) {
    const route = endpointRoute(ep);
    const where = { upstream: def.name, endpoint, route: route ? `${route.method} ${route.path}` : '?' };
    if (!route) {
      findings.push({ ...where, severity: 'error', pointer: '/', problem: 'the route could not be derived from the endpoint definition' });
      continue;
    }
    const found = findOperation(doc, route);
    if (!found) {
      findings.push({ ...where, severity: 'error', pointer: '/', problem: 'the document has no such operation' });
      continue;
    }
    const responses = (found.op.responses ?? {}) as Record<string, Json>;
    const ok = Object.keys(responses).filter((c) => /^2\d\d$/.test(c)).sort()[0];
    const schema = ok ? ((resolve(doc, responses[ok]).content as Record<string, Json> | undefined)?.['application/json']?.schema as Json | undefined) : undefined;
    if (!schema && ok === '204' && !resolve(doc, responses[ok]).content) {
      // No Content: the body is empty, which the engine reads as null.
      if ((ep.response as Json).type === 'null') continue;
      findings.push({ ...where, severity: 'error', pointer: '/', problem: 'the document answers 204 No Content, but a body is declared' });
      continue;
    }
    if (!schema) {
      findings.push({ ...where, severity: 'error', pointer: '/', problem: 'the document declares no JSON success response' });
      continue;
    }
    for (const f of compareSchemas(ep.response as Json, schema, doc)) findings.push({ ...where, ...f });
  }
  return findings;
}

/** Markdown for a pull request. */
export function toMarkdown(report: ContractReport): string {
  const errors = report.findings.filter((f) => f.severity === 'error');
  const warnings = report.findings.filter((f) => f.severity === 'warning');
  const lines = [
    '## Upstream contracts',
    '',
    errors.length ? `**${errors.length} disagreement(s)** between declared response schemas and the upstreams' OpenAPI documents.` : 'Every declared response schema agrees with its upstream\'s OpenAPI document.',
    '',
    '| upstream | document | endpoints checked |',
    '| --- | --- | --- |',
    ...report.upstreams.map((u) => `| ${u.name} | ${u.source} | ${u.endpoints} |`),
  ];
  for (const [title, list] of [['Disagreements', errors], ['Warnings', warnings]] as const) {
    if (!list.length) continue;
    lines.push('', `### ${title}`, '', '| upstream | endpoint | route | at | problem |', '| --- | --- | --- | --- | --- |');
    for (const f of list) lines.push(`| ${f.upstream} | ${f.endpoint} | \`${f.route}\` | \`${f.pointer}\` | ${f.problem.replace(/\|/g, '\\|')} |`);
  }
  return `${lines.join('\n')}\n`;
}

interface Args {
  files: Map<string, string>;
  urls: Map<string, string>;
  only: Set<string>;
  json: boolean;
}

function parseArgs(argv: readonly string[], names: readonly string[]): Args {
  const a: Args = { files: new Map(), urls: new Map(), only: new Set(), json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    const pair = (v: string): [string, string] => {
      const eq = v.indexOf('=');
      const name = v.slice(0, eq);
      if (eq < 1 || !names.includes(name)) throw new UsageError(`${arg} expects <upstream>=<value> with upstream one of ${names.join(', ')}; got ${JSON.stringify(v)}`);
      return [name, v.slice(eq + 1)];
    };
    if (arg === '--json') a.json = true;
    else if (arg === '--file') a.files.set(...pair(value()));
    else if (arg === '--url') a.urls.set(...pair(value()));
    else if (arg === '--upstream') {
      const n = value();
      if (!names.includes(n)) throw new UsageError(`unknown upstream ${JSON.stringify(n)}; known: ${names.join(', ')}`);
      a.only.add(n);
    } else throw new UsageError(`unknown argument ${JSON.stringify(arg)} (use --file name=path, --url name=origin, --upstream name, --json)`);
  }
  return a;
}

class UsageError extends Error {}

async function fetchDoc(origin: string): Promise<Json> {
  const res = await fetch(new URL('/openapi.json', origin), { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}`);
  return (await res.json()) as Json;
}

/** Runs the check; returns the exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const { upstreams } = await import('../upstreams/index.js');
  const defs = Object.values(upstreams) as UpstreamDef[];
  let args: Args;
  try {
    args = parseArgs(argv, defs.map((d) => d.name));
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`contracts:check: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const chosen = defs.filter((d) => !args.only.size || args.only.has(d.name));
  // Upstreams with neither a file, a --url nor UPSTREAM_<NAME>_URL are read from the in-process sandbox.
  const needSandbox = chosen.some((d) => !args.files.has(d.name) && !args.urls.has(d.name) && !env[d.baseUrlEnv]);
  let sandbox: { urls: Record<string, string>; close(): Promise<void> } | undefined;
  if (needSandbox) {
    const { startSandbox } = await import('../sandbox/index.js');
    sandbox = await startSandbox({ portBase: 0, latencyMs: Object.fromEntries(defs.map((d) => [d.name, 0])) });
  }
  const report: { upstreams: ContractReport['upstreams'][number][]; findings: ContractFinding[] } = { upstreams: [], findings: [] };
  try {
    for (const def of chosen) {
      let source: string;
      let doc: Json;
      try {
        const file = args.files.get(def.name);
        if (file) {
          source = `file ${file}`;
          doc = JSON.parse(readFileSync(file, 'utf8')) as Json;
        } else {
          const origin = args.urls.get(def.name) ?? env[def.baseUrlEnv] ?? sandbox?.urls[def.name];
          if (!origin) {
            // No document anywhere: the upstream has no sandbox counterpart and no address was given.
            // Not a failure of the contract (nothing contradicts it), but said, so it is not mistaken for a pass.
            report.upstreams.push({ name: def.name, source: 'none', endpoints: Object.keys(def.endpoints).length });
            report.findings.push({ severity: 'warning', upstream: def.name, endpoint: '*', route: '*', pointer: '/', problem: `no OpenAPI document to compare with: it has no sandbox counterpart; give --url ${def.name}=<origin>, --file ${def.name}=<path> or set ${def.baseUrlEnv}` });
            continue;
          }
          source = args.urls.has(def.name) || env[def.baseUrlEnv] ? `${new URL(origin).origin}/openapi.json` : 'sandbox /openapi.json';
          doc = await fetchDoc(origin);
        }
      } catch (e) {
        source ??= '?';
        report.upstreams.push({ name: def.name, source: 'unavailable', endpoints: 0 });
        report.findings.push({ severity: 'error', upstream: def.name, endpoint: '*', route: '*', pointer: '/', problem: `the OpenAPI document could not be read: ${e instanceof Error ? e.message : String(e)}` });
        continue;
      }
      report.upstreams.push({ name: def.name, source, endpoints: Object.keys(def.endpoints).length });
      report.findings.push(...checkUpstream(def, doc));
    }
  } finally {
    await sandbox?.close();
  }
  out(args.json ? `${JSON.stringify(report, null, 2)}\n` : toMarkdown(report));
  return report.findings.some((f) => f.severity === 'error') ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`contracts:check failed: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(2);
    },
  );
}
