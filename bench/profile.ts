/**
 * Profile Tributary under load: `node --import tsx bench/profile.ts [--op CategoryPage|ProductPage]
 * [--cache on|off] [--duration 10] [--top 40]`. Starts the sandbox and a gateway with `--cpu-prof`,
 * drives it with autocannon (50 connections), stops it, and prints where the self time went: by
 * function and by package. The .cpuprofile is kept in bench/results/ (git-ignored) for DevTools.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
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
    const url = n.callFrame.url.replace(/^file:\/\//, '');
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    const where = m ? m[1]! : url.includes('/work/') || url.startsWith('/') ? url.replace(/^.*?\/(src|upstreams|resolvers|sandbox)\//, '$1/') : url || `(${n.callFrame.functionName || 'native'})`;
    const key = `${n.callFrame.functionName || '(anonymous)'} ${where}:${n.callFrame.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const p = m ? m[1]! : url ? (url.startsWith('node:') ? 'node:*' : where.split('/')[0]!) : n.callFrame.functionName;
    pkg.set(p, (pkg.get(p) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const lines = [`total sampled ${(total / 1000).toFixed(0)} ms`, '', 'by package/area:'];
  for (const [k, v] of [...pkg].sort((a, b) => b[1] - a[1]).slice(0, 25)) lines.push(`${pct(v)}  ${k}`);
  lines.push('', 'by function (self):');
  for (const [k, v] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(v)}  ${k}`);
  return lines.join('\n');
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
