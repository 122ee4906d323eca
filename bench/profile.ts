/**
 * Profile Tributary under load: `node --import tsx bench/profile.ts [--op CategoryPage|ProductPage]
 * [--cache on|off] [--duration 10] [--top 40] [--heap]`. Starts the sandbox and a gateway with `--cpu-prof`,
 * drives it with autocannon (50 connections), stops it, and prints where the self time went: by
 * function and by package. The .cpuprofile is kept in bench/results/ (git-ignored) for DevTools.
 * With `--heap`, the gateway runs V8's sampling heap profiler instead (`bench/heap-sampler.mjs`,
 * counting collected objects too) over the measured run only, and the summary is bytes allocated
 * per request, by function and by package: what the garbage collector has to clear. The
 * .heapprofile is kept beside the CPU profiles.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { argValue, pinSelf, runLoad, startSandbox, startTributary, TRIBUTARY_FEATURES } from './lib.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const DIR = fileURLToPath(new URL('./results/', import.meta.url));

/** Where a frame's URL belongs: its npm package, our own tree (src/, upstreams/, resolvers/), or node's. */
function area(url: string, functionName: string): { where: string; pkg: string } {
  const u = url.replace(/^file:\/\//, '');
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (m) return { where: m[1]!, pkg: m[1]! };
  if (!u) return { where: `(${functionName || 'native'})`, pkg: functionName || '(native)' };
  const where = u.replace(/^.*?\/(src|upstreams|resolvers|sandbox)\//, '$1/');
  return { where, pkg: u.startsWith('node:') ? 'node:*' : where.split('/')[0]! };
}

/** Self time per function and per package of a .cpuprofile, largest first. */
export function summarise(profile: Profile, top = 40): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { where, pkg: p } = area(n.callFrame.url, n.callFrame.functionName);
    const key = `${n.callFrame.functionName || '(anonymous)'} ${where}:${n.callFrame.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    pkg.set(p, (pkg.get(p) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const lines = [`total sampled ${(total / 1000).toFixed(0)} ms`, '', 'by package/area:'];
  for (const [k, v] of [...pkg].sort((a, b) => b[1] - a[1]).slice(0, 25)) lines.push(`${pct(v)}  ${k}`);
  lines.push('', 'by function (self):');
  for (const [k, v] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(v)}  ${k}`);
  return lines.join('\n');
}

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

/** Bytes allocated per request from a sampling heap profile, by function (self) and by package. */
export function summariseHeap(head: HeapNode, requests: number, top = 40): string {
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapNode): void => {
    if (n.selfSize > 0) {
      const { where, pkg: p } = area(n.callFrame.url, n.callFrame.functionName);
      const key = `${n.callFrame.functionName || '(anonymous)'} ${where}:${n.callFrame.lineNumber + 1}`;
      fn.set(key, (fn.get(key) ?? 0) + n.selfSize);
      pkg.set(p, (pkg.get(p) ?? 0) + n.selfSize);
      total += n.selfSize;
    }
    for (const c of n.children) walk(c);
  };
  walk(head);
  const kb = (b: number) => `${(b / requests / 1024).toFixed(2).padStart(7)} KB`;
  const lines = [`allocated ${(total / 1048576).toFixed(0)} MB over ${requests} requests: ${(total / requests / 1024).toFixed(1)} KB per request`, '', 'by package/area (per request):'];
  for (const [k, v] of [...pkg].sort((a, b) => b[1] - a[1]).slice(0, 25)) lines.push(`${kb(v)}  ${k}`);
  lines.push('', 'by function (self, per request):');
  for (const [k, v] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${kb(v)}  ${k}`);
  return lines.join('\n');
}

async function heapMain(opName: string, cache: string, bodies: string[], durationS: number, top: number): Promise<void> {
  const out = `${DIR}heap.${Date.now()}.heapprofile`;
  const sampler = fileURLToPath(new URL('./heap-sampler.mjs', import.meta.url));
  const sandbox = await startSandbox({ latencyMs: 5 });
  const gw = await startTributary({ upstreams: sandbox.urls, env: { ...TRIBUTARY_FEATURES, CACHE: cache, HEAP_PROFILE_OUT: out }, nodeArgs: ['--import', sampler] });
  let requests = 0;
  try {
    await runLoad({ url: `${gw.url}/graphql`, bodies, connections: 50, durationS: 3 });
    process.kill(gw.pid, 'SIGUSR2');
    const r = await runLoad({ url: `${gw.url}/graphql`, bodies, connections: 50, durationS });
    process.kill(gw.pid, 'SIGUSR2');
    requests = r.requests;
    process.stdout.write(`${opName} cache ${cache}: ${r.rps.toFixed(0)} req/s p50 ${r.p50} p99 ${r.p99} errors ${r.errors + r.non2xx}\n`);
    for (let i = 0; i < 100 && !existsSync(out); i++) await new Promise((ok) => setTimeout(ok, 100));
  } finally {
    await gw.stop();
    await sandbox.stop();
  }
  if (!existsSync(out)) throw new Error('no heap profile was written');
  process.stdout.write(`${out}\n${summariseHeap((JSON.parse(readFileSync(out, 'utf8')) as { head: HeapNode }).head, requests, top)}\n`);
}

async function main(argv: string[]): Promise<void> {
  const opName = argValue(argv, '--op') ?? 'CategoryPage';
  const cache = argValue(argv, '--cache') ?? 'off';
  const durationS = Number(argValue(argv, '--duration') ?? 10);
  const top = Number(argValue(argv, '--top') ?? 40);
  pinSelf(1);
  const query = readFileSync(new URL(`../operations/${opName}.graphql`, import.meta.url), 'utf8');
  const bodies =
    opName === 'CategoryPage'
      ? ['groceries', 'kitchen-accessories'].map((slug) => JSON.stringify({ query, variables: { slug, first: 20 } }))
      : ['1', '16', '78'].map((id) => JSON.stringify({ query, variables: { id, country: 'US', postcode: '10001' } }));
  if (argv.includes('--heap')) return heapMain(opName, cache, bodies, durationS, top);
  const sandbox = await startSandbox({ latencyMs: 5 });
  const started = Date.now();
  const gw = await startTributary({ upstreams: sandbox.urls, env: { ...TRIBUTARY_FEATURES, CACHE: cache, ...(process.env.WORKERS ? { WORKERS: process.env.WORKERS } : {}) }, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${DIR}`] });
  try {
    await runLoad({ url: `${gw.url}/graphql`, bodies, connections: 50, durationS: 3 });
    const r = await runLoad({ url: `${gw.url}/graphql`, bodies, connections: 50, durationS });
    process.stdout.write(`${opName} cache ${cache}: ${r.rps.toFixed(0)} req/s p50 ${r.p50} p99 ${r.p99} errors ${r.errors + r.non2xx}\n`);
  } finally {
    await gw.stop();
    await sandbox.stop();
  }
  const file = readdirSync(DIR)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => ({ f, t: statSync(`${DIR}${f}`).mtimeMs }))
    .filter((x) => x.t >= started)
    .sort((a, b) => statSync(`${DIR}${b.f}`).size - statSync(`${DIR}${a.f}`).size)[0]; // the main thread's (the loader thread's is small)
  if (!file) throw new Error('no .cpuprofile was written');
  process.stdout.write(`${DIR}${file.f}\n${summarise(JSON.parse(readFileSync(`${DIR}${file.f}`, 'utf8')) as Profile, top)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`profile failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
