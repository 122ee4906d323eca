/**
 * Resilience benchmark (issue 3): CategoryPage latency while inventory misbehaves.
 *
 *   npm run bench -- resilience [--rounds 3] [--duration 15] [--connections 10]
 *
 * One sandbox process (pinned to core 1, with the load generator) and, per scenario, a fresh gateway
 * process (pinned to core 0, caching off so every query reaches inventory, logging at info). Scenarios:
 * no fault; a 400 ms inventory spike on 1% and 5% of calls, hedging off and on; inventory hard down,
 * breakers off and on. Each round: a discarded warm-up, then a timed run; figures are medians of the
 * rounds. Target (issue 3): with hedging on, p99 under the spike at most 1.5 × p99 without it.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { argValue, median, resetSandboxStats, runLoad, sandboxCalls, startSandbox, startTributary, TRIBUTARY_FEATURES, type LoadResult } from './lib.js';
import { CATEGORY_BODIES, setFaults } from './kit.js';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

interface Scenario {
  readonly name: string;
  readonly faults: Record<string, unknown> | null;
  readonly env: Record<string, string>;
}

const SPIKE = (p: number) => ({ spike: { probability: p, ms: 400 } });

const SCENARIOS: readonly Scenario[] = [
  { name: 'no fault (hedging on)', faults: null, env: { HEDGING: 'on' } },
  { name: 'no fault (hedging off)', faults: null, env: { HEDGING: 'off' } },
  { name: 'spike 1%, hedging off', faults: SPIKE(0.01), env: { HEDGING: 'off' } },
  { name: 'spike 1%, hedging on', faults: SPIKE(0.01), env: { HEDGING: 'on' } },
  { name: 'spike 5%, hedging off', faults: SPIKE(0.05), env: { HEDGING: 'off' } },
  { name: 'spike 5%, hedging on', faults: SPIKE(0.05), env: { HEDGING: 'on' } },
  { name: 'inventory down, breakers off', faults: { down: true }, env: { BREAKERS: 'off' } },
  { name: 'inventory down, breakers on', faults: { down: true }, env: { BREAKERS: 'on' } },
];

interface Row {
  scenario: string;
  rps: number;
  p50: number;
  p99: number;
  inventoryCallsPerQuery: number;
  /** Queries answered without an error (availability present). */
  completePct: number;
  non2xx: number;
  errors: number;
}

export async function run(argv: string[]): Promise<void> {
  const rounds = Number(argValue(argv, '--rounds') ?? 3);
  const duration = Number(argValue(argv, '--duration') ?? 15);
  const warmup = Number(argValue(argv, '--warmup') ?? 3);
  const connections = Number(argValue(argv, '--connections') ?? 10);
  const only = argValue(argv, '--only');

  // Small fixed latencies so the spike, not the baseline, dominates the tail.
  const sandbox = await startSandbox({ latencyMs: 5, perUpstreamMs: { inventory: 10 }, seed: 11 });
  const rows: Row[] = [];
  try {
    for (const s of SCENARIOS) {
      if (only && !s.name.includes(only)) continue;
      const perRound: (LoadResult & { inventory: number; complete: number })[] = [];
      for (let r = 0; r < rounds; r++) {
        // A fresh gateway per round: breaker, latency window and retry budget start empty.
        const gw = await startTributary({ upstreams: sandbox.urls, env: { ...TRIBUTARY_FEATURES, CACHE: 'off', ...s.env } });
        try {
          await setFaults(sandbox.urls.inventory!, s.faults);
          await runLoad({ url: `${gw.url}/graphql`, bodies: CATEGORY_BODIES, connections, durationS: warmup });
          await resetSandboxStats(sandbox.urls);
          // A complete answer has no error (availability present on every product).
          const res = await runLoad({ url: `${gw.url}/graphql`, bodies: CATEGORY_BODIES, connections, durationS: duration, check: (body) => !body.includes('"errors"') });
          const inventory = (await sandboxCalls(sandbox.urls)).inventory ?? 0;
          perRound.push({ ...res, inventory, complete: res.requests - res.non2xx - res.wrong });
        } finally {
          await setFaults(sandbox.urls.inventory!, null);
          await gw.stop();
        }
      }
      const row: Row = {
        scenario: s.name,
        rps: median(perRound.map((x) => x.rps)),
        p50: median(perRound.map((x) => x.p50)),
        p99: median(perRound.map((x) => x.p99)),
        inventoryCallsPerQuery: median(perRound.map((x) => x.inventory / Math.max(1, x.requests))),
        completePct: median(perRound.map((x) => (100 * x.complete) / Math.max(1, x.requests))),
        non2xx: perRound.reduce((n, x) => n + x.non2xx, 0),
        errors: perRound.reduce((n, x) => n + x.errors, 0),
      };
      rows.push(row);
      process.stdout.write(`${row.scenario.padEnd(32)} ${row.rps.toFixed(0).padStart(6)} req/s  p50 ${row.p50.toFixed(1).padStart(6)} ms  p99 ${row.p99.toFixed(1).padStart(6)} ms  inventory calls/query ${row.inventoryCallsPerQuery.toFixed(2)}  complete ${row.completePct.toFixed(1)}%\n`);
    }
  } finally {
    await sandbox.stop();
  }

  const base = rows.find((r) => r.scenario === 'no fault (hedging on)');
  const verdicts = rows
    .filter((r) => base && r.scenario.includes('hedging on') && r.scenario.startsWith('spike'))
    .map((r) => ({ scenario: r.scenario, ratio: base ? r.p99 / base.p99 : NaN }));
  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = { kind: 'resilience', at: new Date().toISOString(), rounds, durationS: duration, warmupS: warmup, connections, rows, p99RatioToNoFault: verdicts };
  writeFileSync(`${RESULTS_DIR}resilience.json`, `${JSON.stringify(out, null, 2)}\n`);
  for (const v of verdicts) process.stdout.write(`${v.scenario}: p99 = ${v.ratio.toFixed(2)} × p99 without the spike (target ≤ 1.5)\n`);
  process.stdout.write(`written: bench/results/resilience.json\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`resilience bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
