/**
 * The side-by-side benchmark (issue 8): Tributary, with every feature on, against its peers on the
 * sandbox shop.
 *
 *   npm run bench [-- peers] [--rounds 3] [--duration 10] [--warmup 3] [--connections 50]
 *                 [--latency 5] [--memory-duration 60] [--only <name,...>] [--skip-memory]
 *
 * Layout: the gateway under test on core 0; the sandbox (every upstream at a small fixed latency,
 * so the gateway's CPU is what is measured), autocannon and this script on core 1. Every subject is
 * started once and kept running; rounds are interleaved (round 1 of every subject, then round 2...)
 * so slow drift of a shared machine hits them alike. Each round: a discarded warm-up, then a timed
 * run. Figures are medians of the rounds; CPU is the gateway process tree's user+system time from
 * /proc divided by the requests answered. Every peer's answer is checked equal to Tributary's
 * before it is timed; a peer that cannot start is reported with its error and left out.
 *
 * Output: a table on stdout, bench/results/latest.json, and the figures block of bench/RESULTS.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import {
  TRIBUTARY_FEATURES,
  argValue,
  machineInfo,
  markdownTable,
  median,
  medianRound,
  pinSelf,
  postGraphQL,
  processTree,
  round,
  rssMb,
  ROOT,
  sampleRss,
  runLoad,
  startPinned,
  startSandbox,
  startTributary,
  exactCallsPerQuery,
  upstreamEnv,
  type RoundResult,
  type SandboxProcess,
} from './lib.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const PEERS_DIR = `${HERE}peers/`;
const RESULTS_DIR = `${HERE}results/`;
const op = (name: string) => readFileSync(new URL(`../operations/${name}.graphql`, import.meta.url), 'utf8');
const CATEGORY_PAGE = op('CategoryPage');
const PRODUCT_PAGE = op('ProductPage');

/** The two categories with at least 20 products: every CategoryPage has 20 nodes. */
const CATEGORY_BODIES = ['groceries', 'kitchen-accessories'].map((slug) => JSON.stringify({ query: CATEGORY_PAGE, variables: { slug, first: 20 } }));
const PRODUCT_BODIES = [1, 6, 16, 78, 101, 150].map((id) => JSON.stringify({ query: PRODUCT_PAGE, variables: { id: String(id), country: 'US', postcode: '10001' } }));

/**
 * Tributary with every feature on, as deployed (NODE_ENV=production): validation of upstream answers
 * (enforce), traces collected, metrics, logging at info, resilience policies (hedging, breakers), the
 * security layer (armor limits, client identification).
 */

interface Subject {
  readonly name: string;
  readonly kind: 'tributary' | 'peer';
  readonly endpoint: string;
  readonly pid: number;
  stop(): Promise<void>;
}

const noErrors = (body: string) => !body.includes('"errors"');

/** Install the peers' own dependencies (never part of the gateway's npm ci). */
function ensurePeersInstalled(): void {
  if (existsSync(`${PEERS_DIR}node_modules/graphql-yoga`) && existsSync(`${PEERS_DIR}node_modules/@apollo/server`)) return;
  process.stdout.write('installing bench/peers dependencies...\n');
  const hasLock = existsSync(`${PEERS_DIR}package-lock.json`);
  const r = spawnSync('npm', [hasLock ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: PEERS_DIR, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm install in bench/peers failed');
}

async function startPeer(name: string, script: string, sandbox: SandboxProcess, extraArgs: readonly string[] = []): Promise<Subject> {
  const p = await startPinned({
    core: 0,
    cwd: PEERS_DIR,
    args: [...extraArgs, script],
    env: { ...upstreamEnv(sandbox.urls), NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1' },
    ready: /listening (http:\/\/\S+)/,
  });
  return { name, kind: 'peer', endpoint: p.match[1]!, pid: p.pid, stop: p.stop };
}

const PEERS: readonly { name: string; start: (sb: SandboxProcess) => Promise<Subject> }[] = [
  { name: 'apollo', start: (sb) => startPeer('Apollo Server 5 + datasource-rest', 'apollo.mjs', sb) },
  { name: 'hive', start: (sb) => startPeer('Hive Gateway + Mesh OpenAPI', 'hive.mjs', sb) },
  { name: 'yoga', start: (sb) => startPeer('bare yoga + dataloader + undici', 'yoga.mjs', sb) },
  { name: 'node-http', start: (sb) => startPeer('hand-written node:http (limit)', 'node-http.mjs', sb) },
];

interface ScenarioResult extends RoundResult {
  readonly scenario: string;
  readonly subject: string;
  readonly connections: number;
  readonly rounds: number;
}

function fmt(r: ScenarioResult): (string | number)[] {
  return [
    r.scenario,
    r.subject,
    r.connections,
    r.rps.toFixed(0),
    r.p50.toFixed(1),
    r.p99.toFixed(1),
    r.cpuMsPerRequest.toFixed(3),
    r.peakRssMb.toFixed(0),
    Number.isFinite(r.upstreamCallsPerQuery) ? r.upstreamCallsPerQuery.toFixed(2) : '-',
    Number.isFinite(r.hedgedCallsPerQuery) ? r.hedgedCallsPerQuery.toFixed(2) : '-',
    r.errors + r.non2xx + r.wrong,
  ];
}
const HEADERS = ['scenario', 'subject', 'conc.', 'req/s', 'p50 ms', 'p99 ms', 'CPU ms/req', 'peak RSS MB', 'upstream calls/query', 'of which hedges', 'errors'];

/**
 * The slowest chain of upstream calls ProductPage needs, timed against the sandbox itself (no
 * gateway): product → recommendations → the 4 recommended products (in parallel) → their prices.
 * Median of `n` sequential runs, ms: the real latency of the chain, timer slack included.
 */
async function productPageChainMs(urls: Readonly<Record<string, string>>, n = 100): Promise<number> {
  const env = upstreamEnv(urls);
  const get = async (url: string, headers: Record<string, string> = {}) => {
    const r = await fetch(url, { headers });
    if (!r.ok) throw new Error(`${url}: ${r.status}`);
    return r.json() as Promise<Record<string, unknown>>;
  };
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await get(`${urls.catalog}/products/1`);
    const rec = (await get(`${urls.recommendations}/recommendations?productId=1&limit=4`, { 'x-api-key': env.RECOMMENDATIONS_API_KEY! })) as { productIds: number[] };
    const products = (await Promise.all(rec.productIds.map((id) => get(`${urls.catalog}/products/${id}`)))) as { sku: string }[];
    await get(`${urls.pricing}/v1/prices?skus=${products.map((p) => p.sku).join(',')}`, { authorization: `Bearer ${env.PRICING_TOKEN!}` });
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** How long the memory run's gateway idles before its settled RSS is read. */
const MEMORY_SETTLE_MS = 10_000;

interface MemoryRun {
  /** RSS read as the load ends. */
  rssAfterMb: number;
  /** RSS after MEMORY_SETTLE_MS idle. */
  rssSettledMb: number;
  peakMb: number;
  rps: number;
  errors: number;
}

/** Runs the issue-8 suite. */
export async function run(argv: string[]): Promise<void> {
  const rounds = Number(argValue(argv, '--rounds') ?? 3);
  const durationS = Number(argValue(argv, '--duration') ?? 10);
  const warmupS = Number(argValue(argv, '--warmup') ?? 3);
  const connections = Number(argValue(argv, '--connections') ?? 50);
  const latencyMs = Number(argValue(argv, '--latency') ?? 5);
  const memoryS = Number(argValue(argv, '--memory-duration') ?? 60);
  const only = argValue(argv, '--only')?.split(',');
  const skipMemory = argv.includes('--skip-memory');
  const workers = argValue(argv, '--workers');
  const want = (name: string) => !only || only.includes(name);

  pinSelf(1);
  ensurePeersInstalled();
  const machine = machineInfo();
  const sandbox = await startSandbox({ latencyMs, core: 1 });
  const results: ScenarioResult[] = [];
  const notes: string[] = [];
  const subjects: Subject[] = [];
  const print = (r: ScenarioResult) => process.stdout.write(`${fmt(r).join('  ')}\n`);
  try {
    // --- CategoryPage, caching off: Tributary and every peer, rounds interleaved ---
    const tributaryOff = await startTributary({ upstreams: sandbox.urls, env: { ...TRIBUTARY_FEATURES, CACHE: 'off' } });
    subjects.push({ name: 'Tributary', kind: 'tributary', endpoint: `${tributaryOff.url}/graphql`, pid: tributaryOff.pid, stop: tributaryOff.stop });
    const reference = await Promise.all(CATEGORY_BODIES.map((b) => postGraphQL(`${tributaryOff.url}/graphql`, b)));
    if (JSON.stringify(reference).includes('"errors"')) throw new Error(`Tributary answered CategoryPage with errors: ${JSON.stringify(reference).slice(0, 500)}`);
    for (const peer of PEERS) {
      if (!want(peer.name)) continue;
      let s: Subject | undefined;
      try {
        s = await peer.start(sandbox);
        const answers = await Promise.all(CATEGORY_BODIES.map((b) => postGraphQL(s!.endpoint, b)));
        answers.forEach((a, i) => {
          if (!isDeepStrictEqual(a, reference[i])) throw new Error(`answer differs from Tributary's:\n  peer:      ${JSON.stringify(a).slice(0, 400)}\n  tributary: ${JSON.stringify(reference[i]).slice(0, 400)}`);
        });
        subjects.push(s);
        process.stdout.write(`${s.name}: answer equal to Tributary's\n`);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        notes.push(`${peer.name}: not timed: ${msg.split('\n').slice(0, 8).join(' / ').slice(0, 800)}`);
        process.stdout.write(`${peer.name}: NOT TIMED: ${msg}\n`);
        await s?.stop();
      }
    }
    const perSubject = new Map<string, RoundResult[]>(subjects.map((s) => [s.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const s of subjects) {
        const res = await round({ gatewayPid: s.pid, url: s.endpoint, bodies: CATEGORY_BODIES, connections, durationS, warmupS, sandboxUrls: sandbox.urls, check: noErrors });
        perSubject.get(s.name)!.push(res);
        process.stdout.write(`  round ${r + 1} ${s.name}: ${res.rps.toFixed(0)} req/s, ${res.cpuMsPerRequest.toFixed(3)} CPU ms/req\n`);
      }
    }
    for (const s of subjects) {
      const m: ScenarioResult = { scenario: 'CategoryPage, cache off', subject: s.name, connections, rounds, ...medianRound(perSubject.get(s.name)!) };
      results.push(m);
      print(m);
    }
    for (const s of subjects.filter((x) => x.kind === 'peer')) await s.stop();
    // Upstream calls per query, exactly: one client, so no query is in flight when the run ends.
    const cp1: RoundResult[] = [];
    for (let r = 0; r < rounds; r++) cp1.push(await round({ gatewayPid: tributaryOff.pid, url: `${tributaryOff.url}/graphql`, bodies: CATEGORY_BODIES, connections: 1, durationS: Math.min(durationS, 5), warmupS: 1, sandboxUrls: sandbox.urls, check: noErrors }));
    const cp1m: ScenarioResult = { scenario: 'CategoryPage, cache off', subject: 'Tributary', connections: 1, rounds, ...medianRound(cp1) };
    // The minimum is checked exactly: queries one after another, none in flight when counted.
    const exactCategory = await exactCallsPerQuery(`${tributaryOff.url}/graphql`, CATEGORY_BODIES, sandbox.urls);
    const exactProduct = await exactCallsPerQuery(`${tributaryOff.url}/graphql`, PRODUCT_BODIES, sandbox.urls);
    process.stdout.write(`exact upstream calls/query (sequential, hedges aside): CategoryPage ${exactCategory.toFixed(2)}, ProductPage ${exactProduct.toFixed(2)}\n`);
    results.push(cp1m);
    print(cp1m);

    // --- ProductPage (every upstream), caching off: concurrency 50, then 1 for latency ---
    const pp50: RoundResult[] = [];
    const pp1: RoundResult[] = [];
    for (let r = 0; r < rounds; r++) {
      pp50.push(await round({ gatewayPid: tributaryOff.pid, url: `${tributaryOff.url}/graphql`, bodies: PRODUCT_BODIES, connections, durationS, warmupS, sandboxUrls: sandbox.urls, check: noErrors }));
      pp1.push(await round({ gatewayPid: tributaryOff.pid, url: `${tributaryOff.url}/graphql`, bodies: PRODUCT_BODIES, connections: 1, durationS, warmupS: 1, sandboxUrls: sandbox.urls, check: noErrors }));
    }
    for (const [c, rs] of [[connections, pp50], [1, pp1]] as const) {
      const m: ScenarioResult = { scenario: 'ProductPage, cache off', subject: 'Tributary', connections: c, rounds, ...medianRound(rs) };
      results.push(m);
      print(m);
    }
    await tributaryOff.stop();
    const chainMs = await productPageChainMs(sandbox.urls);
    process.stdout.write(`ProductPage's slowest upstream chain, timed on the sandbox alone: ${chainMs.toFixed(1)} ms (4 hops of ${latencyMs} ms nominal)\n`);

    // --- CategoryPage, warm cache ---
    const warm = await startTributary({ upstreams: sandbox.urls, env: { ...TRIBUTARY_FEATURES, CACHE: 'on' } });
    try {
      const rs: RoundResult[] = [];
      for (let r = 0; r < rounds; r++) rs.push(await round({ gatewayPid: warm.pid, url: `${warm.url}/graphql`, bodies: CATEGORY_BODIES, connections, durationS, warmupS, sandboxUrls: sandbox.urls, check: noErrors }));
      const m: ScenarioResult = { scenario: 'CategoryPage, warm cache', subject: 'Tributary', connections, rounds, ...medianRound(rs) };
      results.push(m);
      print(m);
    } finally {
      await warm.stop();
    }

    // --- --workers N (informational: both cores, shared with the load generator) ---
    if (workers) {
      const w = await startTributary({ upstreams: sandbox.urls, env: { ...TRIBUTARY_FEATURES, CACHE: 'off', WORKERS: workers }, core: '0,1' });
      try {
        const rs: RoundResult[] = [];
        for (let r = 0; r < rounds; r++) rs.push(await round({ gatewayPid: w.pid, url: `${w.url}/graphql`, bodies: CATEGORY_BODIES, connections, durationS, warmupS, sandboxUrls: sandbox.urls, check: noErrors }));
        const m: ScenarioResult = { scenario: `CategoryPage, cache off, --workers ${workers} (cores 0,1)`, subject: 'Tributary', connections, rounds, ...medianRound(rs) };
        results.push(m);
        print(m);
      } finally {
        await w.stop();
      }
    }

    // --- Memory: concurrency 200, a discarded warm-up then three consecutive runs on one process, cache on, varied queries ---
    // The warm-up fills what is bounded (the trace store, the cache, the connection pools, V8's
    // compiled code); "does not grow" compares the runs after it. Each run's RSS is read once the
    // process has been idle for MEMORY_SETTLE_MS (V8 shrinks its heap when idle): read 1 s after the
    // load, it depended on whether a major GC had happened in that second (RESULTS.md, run L).
    let memory: { warmup: { peakMb: number; rps: number }; runs: MemoryRun[] } | undefined;
    if (!skipMemory) {
      const mem = await startTributary({ upstreams: sandbox.urls, env: { ...TRIBUTARY_FEATURES, CACHE: 'on' } });
      try {
        const bodies = [...CATEGORY_BODIES, ...PRODUCT_BODIES];
        const runs: MemoryRun[] = [];
        const pids = processTree(mem.pid);
        const load = async (seconds: number) => {
          const sampler = sampleRss(pids);
          const res = await runLoad({ url: `${mem.url}/graphql`, bodies, connections: 200, durationS: seconds, check: noErrors });
          return { res, peakMb: sampler.stop() };
        };
        const w = await load(Math.max(5, Math.round(memoryS / 3)));
        process.stdout.write(`  memory warm-up (discarded): peak ${w.peakMb.toFixed(0)} MB, ${w.res.rps.toFixed(0)} req/s\n`);
        for (let r = 0; r < 3; r++) {
          const { res, peakMb } = await load(memoryS);
          const rssAfterMb = rssMb(mem.pid).rss;
          await new Promise((ok) => setTimeout(ok, MEMORY_SETTLE_MS));
          const rssSettledMb = rssMb(mem.pid).rss;
          runs.push({ rssAfterMb, rssSettledMb, peakMb, rps: res.rps, errors: res.errors + res.non2xx + res.wrong });
          process.stdout.write(`  memory run ${r + 1}: peak ${peakMb.toFixed(0)} MB, at the end ${rssAfterMb.toFixed(0)} MB, settled ${rssSettledMb.toFixed(0)} MB, ${res.rps.toFixed(0)} req/s\n`);
        }
        memory = { warmup: { peakMb: w.peakMb, rps: w.res.rps }, runs };
      } finally {
        await mem.stop();
      }
    }

    // --- Verdicts ---
    const get = (scenario: string, subject: string, c = connections) => results.find((x) => x.scenario === scenario && x.subject.startsWith(subject) && x.connections === c);
    const t = get('CategoryPage, cache off', 'Tributary');
    const yoga = get('CategoryPage, cache off', 'bare yoga');
    const apollo = get('CategoryPage, cache off', 'Apollo');
    const hive = get('CategoryPage, cache off', 'Hive');
    const limit = get('CategoryPage, cache off', 'hand-written');
    const warmR = get('CategoryPage, warm cache', 'Tributary');
    const pp1R = get('ProductPage, cache off', 'Tributary', 1);
    const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? a / b : NaN);
    const verdicts = [
      { target: 'CategoryPage req/s ≥ 1.2 × bare yoga', value: ratio(t?.rps, yoga?.rps), goal: 1.2, higher: true },
      { target: 'CategoryPage CPU/req: bare yoga ÷ Tributary ≥ 1.2', value: ratio(yoga?.cpuMsPerRequest, t?.cpuMsPerRequest), goal: 1.2, higher: true },
      { target: 'CategoryPage CPU ms/req < 0.8', value: t?.cpuMsPerRequest ?? NaN, goal: 0.8, higher: false },
      { target: 'CategoryPage req/s ≥ 3 × Apollo Server', value: ratio(t?.rps, apollo?.rps), goal: 3, higher: true },
      { target: 'CategoryPage req/s ≥ 10 × Hive Gateway', value: ratio(t?.rps, hive?.rps), goal: 10, higher: true },
      { target: 'CategoryPage p99 ≤ 3 × p50', value: ratio(t?.p99, t?.p50), goal: 3, higher: false },
      { target: 'warm-cache CategoryPage ≥ 0.5 × hand-written limit req/s', value: ratio(warmR?.rps, limit?.rps), goal: 0.5, higher: true },
      { target: `ProductPage p50 at concurrency 1 ≤ slowest upstream chain (${chainMs.toFixed(1)} ms, timed) + 2 ms`, value: pp1R?.p50 ?? NaN, goal: Math.round((chainMs + 2) * 10) / 10, higher: false },
      { target: 'ProductPage upstream calls/query, exact (queries one after another, hedges aside) ≤ 11, the minimum (see RESULTS.md)', value: exactProduct, goal: 11, higher: false },
      { target: 'CategoryPage upstream calls/query, exact (queries one after another, hedges aside) ≤ 4, the minimum', value: exactCategory, goal: 4, higher: false },
      ...(memory
        ? [
            { target: 'memory: peak RSS < 250 MB at concurrency 200 (warm-up included)', value: Math.max(memory.warmup.peakMb, ...memory.runs.map((m) => m.peakMb)), goal: 250, higher: false },
            { target: 'memory: settled RSS after run 3 ÷ after run 1 ≤ 1.10 (no growth)', value: ratio(memory.runs[2]?.rssSettledMb, memory.runs[0]?.rssSettledMb), goal: 1.1, higher: false },
            { target: 'memory: peak RSS of run 3 ÷ of run 1 ≤ 1.10 (no growth)', value: ratio(memory.runs[2]?.peakMb, memory.runs[0]?.peakMb), goal: 1.1, higher: false },
          ]
        : []),
    ].map((v) => ({ ...v, met: Number.isFinite(v.value) ? (v.higher ? v.value >= v.goal : v.value <= v.goal) : null }));

    const table = markdownTable(HEADERS, results.map(fmt));
    const verdictTable = markdownTable(
      ['target', 'measured', 'goal', 'met'],
      verdicts.map((v) => [v.target, Number.isFinite(v.value) ? v.value.toFixed(2) : 'n/a', v.goal, v.met === null ? 'not measured' : v.met ? 'yes' : `**no**`]),
    );
    const memTable = memory
      ? markdownTable(
          ['run (200 conns)', 'req/s', 'peak RSS MB', 'RSS at the end MB', `RSS settled (${MEMORY_SETTLE_MS / 1000} s idle) MB`, 'errors'],
          [['warm-up (discarded)', memory.warmup.rps.toFixed(0), memory.warmup.peakMb.toFixed(0), '', '', ''], ...memory.runs.map((m, i) => [i + 1, m.rps.toFixed(0), m.peakMb.toFixed(0), m.rssAfterMb.toFixed(0), m.rssSettledMb.toFixed(0), m.errors])],
        )
      : '';
    process.stdout.write(`\n${table}\n\n${verdictTable}\n${memTable ? `\n${memTable}\n` : ''}${notes.length ? `\n${notes.map((n) => `- ${n}`).join('\n')}\n` : ''}`);

    const at = new Date().toISOString();
    const gitHead = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).stdout?.toString().trim();
    const cmd = `npm run bench -- ${argv.join(' ')}`.trim();
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(
      `${RESULTS_DIR}latest.json`,
      `${JSON.stringify({ kind: 'peers', at, gitHead, command: cmd, machine, rounds, durationS, warmupS, connections, upstreamLatencyMs: latencyMs, productPageChainMs: chainMs, exactCallsPerQuery: { CategoryPage: exactCategory, ProductPage: exactProduct }, memoryDurationS: memoryS, results, memory, verdicts, notes }, null, 2)}\n`,
    );
    const block = [
      `<!-- figures:start (written by npm run bench; do not edit by hand) -->`,
      `Run ${at} at ${gitHead}: \`${cmd}\`; ${machine.cores} cores (${machine.cpu}), ${machine.os}, Node ${machine.node}, taskset ${machine.taskset ? 'yes' : 'NO (unpinned)'}; ${rounds} rounds of ${durationS} s after a ${warmupS} s warm-up, medians; upstream latency ${latencyMs} ms.`,
      '',
      table,
      '',
      verdictTable,
      ...(memTable ? ['', memTable] : []),
      ...(notes.length ? ['', ...notes.map((n) => `- ${n.replace(/\|/g, '\\|')}`)] : []),
      `<!-- figures:end -->`,
    ].join('\n');
    const resultsMd = `${HERE}RESULTS.md`;
    const current = existsSync(resultsMd) ? readFileSync(resultsMd, 'utf8') : '# Benchmark results\n\n<!-- figures:start -->\n<!-- figures:end -->\n';
    const updated = /<!-- figures:start[\s\S]*?<!-- figures:end -->/.test(current)
      ? current.replace(/<!-- figures:start[\s\S]*?<!-- figures:end -->/, block)
      : `${current}\n${block}\n`;
    writeFileSync(resultsMd, updated);
    process.stdout.write('written: bench/results/latest.json, bench/RESULTS.md (figures block)\n');
    void median;
  } finally {
    for (const s of subjects) await s.stop().catch(() => {});
    await sandbox.stop();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
