/**
 * A/B of Tributary configurations (what a feature costs): `node --import tsx bench/ab.ts
 * '{"all on":{},"TRACES=off":{"TRACES":"off"}}' [--rounds 3] [--duration 5]`. Each variant is a
 * gateway process (env added to the bench's TRIBUTARY_FEATURES and CACHE=off) on core 0, driven in turn with
 * CategoryPage at 50 connections, rounds interleaved; prints the median CPU ms per request, and for
 * each variant after the first the median of its per-round ratios to the first. Every
 * variant must still log its "tributary listening" line at info (do not set LOG_LEVEL above info).
 * A variant's `CHECKOUT` runs another checkout of the project (e.g. a `git worktree` of the base
 * commit, with its own node_modules) to compare two builds side by side; `NODE_ARGS` adds node flags.
 */
import { readFileSync } from 'node:fs';
import { argValue, median, pinSelf, round, startSandbox, startTributary, TRIBUTARY_FEATURES } from './lib.js';

pinSelf(1);
const argv = process.argv.slice(2);
const rounds = Number(argValue(argv, '--rounds') ?? 3);
const durationS = Number(argValue(argv, '--duration') ?? 5);
const q = readFileSync(new URL('../operations/CategoryPage.graphql', import.meta.url), 'utf8');
const bodies = ['groceries', 'kitchen-accessories'].map((slug) => JSON.stringify({ query: q, variables: { slug, first: 20 } }));
const variants = JSON.parse(argv[0] ?? '{"all on":{}}') as Record<string, Record<string, string>>;
const sb = await startSandbox({ latencyMs: 5 });
const base = { ...TRIBUTARY_FEATURES, CACHE: 'off' };
const gws = [];
for (const [name, { CHECKOUT, NODE_ARGS, ...env }] of Object.entries(variants)) {
  const nodeArgs = NODE_ARGS ? NODE_ARGS.split(' ') : [];
  gws.push({ name, gw: await startTributary({ upstreams: sb.urls, env: { ...base, ...env }, nodeArgs, ...(CHECKOUT ? { cwd: CHECKOUT } : {}) }) });
}
const cpu: Record<string, number[]> = {};
const rps: Record<string, number[]> = {};
const tail: Record<string, number[]> = {};
try {
  for (let r = 0; r < rounds; r++) {
    for (const { name, gw } of gws) {
      const x = await round({ gatewayPid: gw.pid, url: `${gw.url}/graphql`, bodies, connections: 50, durationS, warmupS: 2 });
      (cpu[name] ??= []).push(x.cpuMsPerRequest);
      (rps[name] ??= []).push(x.rps);
      (tail[name] ??= []).push(x.p99 / Math.max(1, x.p50));
    }
  }
  // The machine's speed drifts between rounds (shared host): a variant is compared with the first in
  // the same round, and the median of those per-round ratios is the robust figure.
  const first = Object.keys(cpu)[0]!;
  for (const name of Object.keys(cpu)) {
    const ratios = cpu[name]!.map((x, i) => x / cpu[first]![i]!);
    const vs = name === first ? '' : `  ÷ ${first}: ${median(ratios).toFixed(3)} (${ratios.map((x) => x.toFixed(2)).join(' ')})`;
    process.stdout.write(`${name.padEnd(28)} CPU ms/req ${median(cpu[name]!).toFixed(3)} (${cpu[name]!.map((x) => x.toFixed(3)).join(' ')})  req/s ${median(rps[name]!).toFixed(0)}  p99/p50 ${median(tail[name]!).toFixed(2)}${vs}\n`);
  }
} finally {
  for (const { gw } of gws) await gw.stop();
  await sb.stop();
}
