/**
 * Cache benchmark (issue 4): CategoryPage (20 products) cold, warm from memory, warm from Redis.
 *
 *   npm run bench -- cache [--rounds 3] [--duration 15] [--connections 50]
 *
 * One sandbox process (core 1, with the load generator) and, per scenario and round, a fresh gateway
 * process on core 0 (logging at info). "cold" is caching off: every query pays its upstream calls.
 * "warm" scenarios run a discarded warm-up that fills the cache, then the timed run. "redis" reads
 * Redis for every key (CACHE_MEMORY_LAYER=off); "memory + redis" is the default tiered store. Per
 * scenario: req/s, p50, p99, upstream calls per query (sandbox `__stats`), gateway CPU ms per query.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { argValue, cpuMs, median, resetSandboxStats, runLoad, sandboxCalls, startSandbox, startTributary, TRIBUTARY_FEATURES } from './lib.js';
import { CATEGORY_BODIES } from './kit.js';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

const SCENARIOS: readonly { name: string; env: () => Record<string, string> }[] = [
  { name: 'cold (cache off)', env: () => ({ CACHE: 'off' }) },
  { name: 'warm, memory', env: () => ({ CACHE: 'on' }) },
  { name: 'warm, redis', env: () => ({ CACHE: 'on', REDIS_URL, CACHE_MEMORY_LAYER: 'off', CACHE_NAMESPACE: `bench-${randomUUID()}` }) },
  { name: 'warm, memory + redis', env: () => ({ CACHE: 'on', REDIS_URL, CACHE_NAMESPACE: `bench-${randomUUID()}` }) },
];

interface Row {
  scenario: string;
  rps: number;
  p50: number;
  p99: number;
  upstreamCallsPerQuery: number;
  callsPerQueryByUpstream: Record<string, number>;
  cpuMsPerQuery: number;
  non2xx: number;
  errors: number;
  /** 200 answers that carried a GraphQL error. */
  wrong: number;
}

export async function run(argv: string[]): Promise<void> {
  const rounds = Number(argValue(argv, '--rounds') ?? 3);
  const duration = Number(argValue(argv, '--duration') ?? 15);
  const warmup = Number(argValue(argv, '--warmup') ?? 3);
  const connections = Number(argValue(argv, '--connections') ?? 50);

  // The upstreams' default latencies (catalog 15 ms, pricing 10 ms, inventory 20 ms, reviews 10 ms).
  const sandbox = await startSandbox({ perUpstreamMs: { catalog: 15, pricing: 10, inventory: 20, reviews: 10 }, seed: 5 });
  const rows: Row[] = [];
  try {
    for (const s of SCENARIOS) {
      const perRound: { rps: number; p50: number; p99: number; calls: Record<string, number>; requests: number; cpu: number; non2xx: number; errors: number; wrong: number }[] = [];
      for (let r = 0; r < rounds; r++) {
        const gw = await startTributary({ upstreams: sandbox.urls, env: { ...TRIBUTARY_FEATURES, ...s.env() } });
        try {
          await runLoad({ url: `${gw.url}/graphql`, bodies: CATEGORY_BODIES, connections, durationS: warmup });
          await resetSandboxStats(sandbox.urls);
          const cpu0 = cpuMs(gw.pid);
          const res = await runLoad({ url: `${gw.url}/graphql`, bodies: CATEGORY_BODIES, connections, durationS: duration, check: (body) => !body.includes('"errors"') });
          const cpu = cpuMs(gw.pid) - cpu0;
          perRound.push({ ...res, calls: await sandboxCalls(sandbox.urls), cpu });
        } finally {
          await gw.stop();
        }
      }
      const byUpstream: Record<string, number> = {};
      for (const name of Object.keys(sandbox.urls)) {
        const v = median(perRound.map((x) => (x.calls[name] ?? 0) / Math.max(1, x.requests)));
        if (v > 0) byUpstream[name] = Math.round(v * 1000) / 1000;
      }
      const row: Row = {
        scenario: s.name,
        rps: median(perRound.map((x) => x.rps)),
        p50: median(perRound.map((x) => x.p50)),
        p99: median(perRound.map((x) => x.p99)),
        upstreamCallsPerQuery: median(perRound.map((x) => Object.values(x.calls).reduce((a, b) => a + b, 0) / Math.max(1, x.requests))),
        callsPerQueryByUpstream: byUpstream,
        cpuMsPerQuery: median(perRound.map((x) => x.cpu / Math.max(1, x.requests))),
        non2xx: perRound.reduce((n, x) => n + x.non2xx, 0),
        errors: perRound.reduce((n, x) => n + x.errors, 0),
        wrong: perRound.reduce((n, x) => n + x.wrong, 0),
      };
      rows.push(row);
      process.stdout.write(
        `${row.scenario.padEnd(22)} ${row.rps.toFixed(0).padStart(6)} req/s  p50 ${row.p50.toFixed(1).padStart(6)} ms  p99 ${row.p99.toFixed(1).padStart(6)} ms  upstream calls/query ${row.upstreamCallsPerQuery.toFixed(3)}  CPU ${row.cpuMsPerQuery.toFixed(2)} ms/query  non-2xx ${row.non2xx}  with errors ${row.wrong}\n`,
      );
    }
  } finally {
    await sandbox.stop();
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(`${RESULTS_DIR}cache.json`, `${JSON.stringify({ kind: 'cache', at: new Date().toISOString(), rounds, durationS: duration, warmupS: warmup, connections, rows }, null, 2)}\n`);
  process.stdout.write('written: bench/results/cache.json\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`cache bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
