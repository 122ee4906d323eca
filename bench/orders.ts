/**
 * Orders benchmark (issue 19): PlaceOrder through the workflow engine.
 *
 *   npm run bench -- orders [--rounds 3] [--orders 400] [--concurrency 20] [--only embedded|postgres|none]
 *                           [--correctness 1000] [--fault-rate 0.05]
 *
 * Throughput. For each log (the embedded SQLite default, PostgreSQL on DATABASE_URL or the local
 * `test` database, and none: the same engine over a log that keeps nothing), a fresh sandbox process
 * (core 1, with this load generator) and per round a fresh gateway (core 0, production settings, the
 * start flags of `npm start`): a warm-up of 40 orders, then `--orders` PlaceOrders at `--concurrency`,
 * each with its own idempotency key, user and product. Figures per log, medians of the rounds:
 * orders/s, p50 and p99 latency, gateway CPU ms per order, PostgreSQL server CPU ms per order (its
 * processes' CPU while the round ran: other users of the machine's PostgreSQL add to it), and the log's
 * calls per order (`tributary_workflow_log_calls_total`: each one round trip on PostgreSQL).
 *
 * Correctness under faults. For the embedded log and PostgreSQL: `--correctness` orders at the same
 * concurrency while every write route of inventory, payments and orders fails `--fault-rate` of its
 * calls (half answered 503, half applied with the answer lost: the connection reset). Once recovery
 * left nothing in flight, the sandbox's books must balance: charges = orders + refunds, reservations =
 * orders (committed) + released, one charge per workflow instance. One card in 20 is declined, so
 * compensation (releasing the stock) runs under the same faults.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signUserToken } from '../src/identity.js';
import { dropPostgresWorkflowTables } from '../src/workflow/index.js';
import { argValue, cpuMs, machineInfo, markdownTable, median, processTree, startPinned, startSandbox, START_FLAGS, TRIBUTARY_FEATURES, treeCpuMs, upstreamEnv, type SandboxProcess } from './lib.js';
import { setFaults } from './kit.js';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const PLACE_ORDER = readFileSync(new URL('../operations/PlaceOrder.graphql', import.meta.url), 'utf8');
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const ADMIN_TOKEN = 'bench-admin-token';
const METRICS_TOKEN = 'bench-metrics-token';
const USERS = 20;
/** Products of the data set with at least 60 in stock: a fresh sandbox holds enough for every round. */
const PRODUCTS = [1, 3, 4, 5, 8, 10, 11, 12, 13, 17, 19, 21, 22, 24, 30, 33, 36, 37, 41, 44, 49, 50, 57, 60, 61, 63, 65, 67, 68, 69, 70, 72, 73, 75, 76, 80, 82, 84, 85, 87];

type LogKind = 'embedded' | 'postgres' | 'none';

interface Gateway {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

async function startGateway(sandbox: SandboxProcess, log: LogKind, prefix: string, directory: string): Promise<Gateway> {
  const env: Record<string, string> = {
    ...TRIBUTARY_FEATURES,
    PORT: '0',
    HOST: '127.0.0.1',
    ...upstreamEnv(sandbox.urls),
    ADMIN_TOKEN,
    METRICS_TOKEN,
    WORKFLOW_DIR: directory,
    ...(log === 'postgres' ? { DATABASE_URL, WORKFLOW_TABLE_PREFIX: prefix } : {}),
    ...(log === 'none' ? { BENCH_WORKFLOW_LOG: 'memory' } : {}),
  };
  const p = await startPinned({ core: 0, args: [...START_FLAGS, '--import', 'tsx', 'bench/orders-gateway.ts'], env, ready: /"url":"(http:\/\/[^"]+)\/graphql"[^\n]*"msg":"tributary listening"/ });
  return { url: p.match[1]!, pid: p.pid, stop: p.stop };
}

let seq = 0;
function orderBody(runId: string, declinedEvery = 0): string {
  const n = seq++;
  const input = {
    lines: [{ productId: String(PRODUCTS[n % PRODUCTS.length]), quantity: 1 }],
    country: 'US',
    postcode: '10001',
    paymentToken: declinedEvery > 0 && n % declinedEvery === 0 ? 'tok_declined' : 'tok_visa',
    idempotencyKey: `bench-${runId}-${n}`,
  };
  return JSON.stringify({ query: PLACE_ORDER, variables: { input } });
}

type Heard = 'completed' | string;

interface LoadOutcome {
  readonly latencies: number[];
  readonly heard: Map<Heard, number>;
  readonly seconds: number;
}

/** `total` PlaceOrders, `concurrency` at a time, each user in turn (tokens signed with the gateway's secret). */
async function placeOrders(url: string, tokens: readonly string[], total: number, concurrency: number, runId: string, declinedEvery = 0): Promise<LoadOutcome> {
  const latencies: number[] = [];
  const heard = new Map<Heard, number>();
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const body = orderBody(runId, declinedEvery);
      const start = performance.now();
      let what: Heard;
      try {
        const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[i % tokens.length]}` }, body });
        const json = (await res.json()) as { data?: { placeOrder?: { order?: unknown } }; errors?: { extensions?: { code?: string } }[] };
        what = json.data?.placeOrder?.order ? 'completed' : (json.errors?.[0]?.extensions?.code ?? `HTTP ${res.status}`);
      } catch (e) {
        what = `client error: ${(e as Error).message}`;
      }
      latencies.push(performance.now() - start);
      heard.set(what, (heard.get(what) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies, heard, seconds: (performance.now() - t0) / 1000 };
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function logCalls(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  let n = 0;
  for (const m of text.matchAll(/^tributary_workflow_log_calls_total\{operation="(\w+)"\} (\d+)$/gm)) if (m[1] !== 'renew' && m[1] !== 'claimExpired' && m[1] !== 'purge') n += Number(m[2]);
  return n;
}

/** The PostgreSQL server's processes (postmaster and its backends), when its pid file is readable. */
function postgresPids(): number[] {
  for (const file of ['/var/run/postgresql/15-main.pid', '/run/postgresql/15-main.pid']) {
    try {
      return processTree(Number(readFileSync(file, 'utf8').trim()));
    } catch {
      /* next */
    }
  }
  try {
    const dataDir = '/var/lib/postgresql/15/main/postmaster.pid';
    return processTree(Number(readFileSync(dataDir, 'utf8').split('\n')[0]));
  } catch {
    return [];
  }
}

interface Row {
  log: LogKind;
  ordersPerS: number;
  p50: number;
  p99: number;
  gatewayCpuMsPerOrder: number;
  postgresCpuMsPerOrder: number | null;
  logCallsPerOrder: number;
  completedPct: number;
}

async function throughput(log: LogKind, rounds: number, orders: number, concurrency: number, tokens: readonly string[]): Promise<Row> {
  const sandbox = await startSandbox({ latencyMs: 2, seed: 5 });
  const per: Omit<Row, 'log'>[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const prefix = `bench_${process.pid}_${r}_`;
      const directory = mkdtempSync(join(tmpdir(), 'tributary-bench-'));
      const gw = await startGateway(sandbox, log, prefix, directory);
      try {
        await placeOrders(gw.url, tokens, 40, concurrency, `${log}-warm-${r}-${Date.now()}`);
        const calls0 = await logCalls(gw.url);
        const cpu0 = cpuMs(gw.pid);
        const pg = log === 'postgres' ? postgresPids() : [];
        const pg0 = treeCpuMs(pg);
        const res = await placeOrders(gw.url, tokens, orders, concurrency, `${log}-${r}-${Date.now()}`);
        const cpu = cpuMs(gw.pid) - cpu0;
        const pgCpu = treeCpuMs(pg) - pg0;
        const calls = (await logCalls(gw.url)) - calls0;
        per.push({
          ordersPerS: orders / res.seconds,
          p50: percentile(res.latencies, 50),
          p99: percentile(res.latencies, 99),
          gatewayCpuMsPerOrder: cpu / orders,
          postgresCpuMsPerOrder: pg.length ? pgCpu / orders : null,
          logCallsPerOrder: calls / orders,
          completedPct: (100 * (res.heard.get('completed') ?? 0)) / orders,
        });
        const unexpected = [...res.heard].filter(([k]) => k !== 'completed');
        if (unexpected.length) process.stdout.write(`  ${log} round ${r + 1}: not completed: ${JSON.stringify(Object.fromEntries(unexpected))}\n`);
      } finally {
        await gw.stop();
        if (log === 'postgres') await dropPostgresWorkflowTables(DATABASE_URL, prefix).catch(() => {});
        rmSync(directory, { recursive: true, force: true });
      }
    }
  } finally {
    await sandbox.stop();
  }
  const m = (f: (x: Omit<Row, 'log'>) => number) => median(per.map(f));
  return {
    log,
    ordersPerS: m((x) => x.ordersPerS),
    p50: m((x) => x.p50),
    p99: m((x) => x.p99),
    gatewayCpuMsPerOrder: m((x) => x.gatewayCpuMsPerOrder),
    postgresCpuMsPerOrder: per[0]?.postgresCpuMsPerOrder === null ? null : m((x) => x.postgresCpuMsPerOrder ?? 0),
    logCallsPerOrder: m((x) => x.logCallsPerOrder),
    completedPct: m((x) => x.completedPct),
  };
}

const WRITE_ROUTES: Readonly<Record<string, string[]>> = {
  inventory: ['POST /reservations', 'POST /reservations/:id/commit', 'DELETE /reservations/:id'],
  payments: ['POST /v1/charges', 'POST /v1/refunds'],
  orders: ['POST /orders'],
};

interface Books {
  log: LogKind;
  orders: number;
  heard: Record<string, number>;
  charges: number;
  refunds: number;
  placed: number;
  reservations: number;
  committed: number;
  released: number;
  otherReservations: number;
  duplicateCharges: number;
  balanced: boolean;
}

async function records(url: string): Promise<Record<string, unknown[]>> {
  return (await (await fetch(`${url}/__records`)).json()) as Record<string, unknown[]>;
}

async function correctness(log: 'embedded' | 'postgres', total: number, concurrency: number, faultRate: number, tokens: readonly string[]): Promise<Books> {
  const sandbox = await startSandbox({ latencyMs: 2, seed: 9 });
  const prefix = `bench_faults_${process.pid}_`;
  const directory = mkdtempSync(join(tmpdir(), 'tributary-bench-'));
  const gw = await startGateway(sandbox, log, prefix, directory);
  try {
    for (const [name, routes] of Object.entries(WRITE_ROUTES)) {
      await setFaults(sandbox.urls[name]!, { error: { probability: faultRate / 2, status: 503 }, afterEffect: { probability: faultRate / 2, outcome: 'reset' }, routes });
    }
    // One card in 20 is declined: the reservations released by compensation are part of the books.
    const res = await placeOrders(gw.url, tokens, total, concurrency, `${log}-faults-${Date.now()}`, 20);
    for (const name of Object.keys(WRITE_ROUTES)) await setFaults(sandbox.urls[name]!, null);
    // Whatever ended in doubt is finished or undone by recovery: wait until nothing is in flight.
    for (let i = 0; ; i++) {
      const listing = (await (await fetch(`${gw.url}/admin/workflows?view=in-flight`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { count: number };
      if (listing.count === 0) break;
      if (i > 600) throw new Error(`${listing.count} workflows still in flight after 60 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const payments = await records(sandbox.urls.payments!);
    const orders = await records(sandbox.urls.orders!);
    const inventory = await records(sandbox.urls.inventory!);
    const charges = payments.charges as { description: string | null; refunded: boolean }[];
    const reservations = inventory.reservations as { status: string }[];
    const count = (s: string) => reservations.filter((r) => r.status === s).length;
    const books: Books = {
      log,
      orders: total,
      heard: Object.fromEntries(res.heard),
      charges: charges.length,
      refunds: charges.filter((c) => c.refunded).length,
      placed: orders.orders!.length,
      reservations: reservations.length,
      committed: count('COMMITTED'),
      released: count('RELEASED'),
      otherReservations: reservations.length - count('COMMITTED') - count('RELEASED'),
      duplicateCharges: charges.length - new Set(charges.map((c) => c.description)).size,
      balanced: false,
    };
    books.balanced =
      books.charges === books.placed + books.refunds && books.reservations === books.placed + books.released && books.committed === books.placed && books.otherReservations === 0 && books.duplicateCharges === 0;
    return books;
  } finally {
    await gw.stop();
    await sandbox.stop();
    if (log === 'postgres') await dropPostgresWorkflowTables(DATABASE_URL, prefix).catch(() => {});
    rmSync(directory, { recursive: true, force: true });
  }
}

export async function run(argv: string[]): Promise<void> {
  const rounds = Number(argValue(argv, '--rounds') ?? 3);
  const orders = Number(argValue(argv, '--orders') ?? 400);
  const concurrency = Number(argValue(argv, '--concurrency') ?? 20);
  const correctnessOrders = Number(argValue(argv, '--correctness') ?? 1000);
  const faultRate = Number(argValue(argv, '--fault-rate') ?? 0.05);
  const only = argValue(argv, '--only');
  const tokens = await Promise.all(Array.from({ length: USERS }, (_, i) => signUserToken(TRIBUTARY_FEATURES.JWT_SECRET!, String(i + 1))));

  const rows: Row[] = [];
  for (const log of ['none', 'embedded', 'postgres'] as const) {
    if (only && only !== log) continue;
    const row = await throughput(log, rounds, orders, concurrency, tokens);
    rows.push(row);
    process.stdout.write(
      `${log.padEnd(9)} ${row.ordersPerS.toFixed(0).padStart(5)} orders/s  p50 ${row.p50.toFixed(1).padStart(6)} ms  p99 ${row.p99.toFixed(1).padStart(6)} ms  gateway CPU ${row.gatewayCpuMsPerOrder.toFixed(2)} ms/order` +
        `${row.postgresCpuMsPerOrder === null ? '' : `  PostgreSQL CPU ${row.postgresCpuMsPerOrder.toFixed(2)} ms/order`}  log calls ${row.logCallsPerOrder.toFixed(1)}/order  completed ${row.completedPct.toFixed(1)}%\n`,
    );
  }
  const none = rows.find((r) => r.log === 'none');
  const costs = rows
    .filter((r) => r.log !== 'none' && none)
    .map((r) => ({
      log: r.log,
      gatewayCpuMsPerOrder: r.gatewayCpuMsPerOrder - none!.gatewayCpuMsPerOrder,
      p50Ms: r.p50 - none!.p50,
      p99Ms: r.p99 - none!.p99,
      throughputRatio: r.ordersPerS / none!.ordersPerS,
      logCallsPerOrder: r.logCallsPerOrder,
    }));
  for (const c of costs) {
    process.stdout.write(
      `the ${c.log} log costs ${c.gatewayCpuMsPerOrder.toFixed(2)} ms of gateway CPU and ${c.logCallsPerOrder.toFixed(1)} log calls per order; p50 +${c.p50Ms.toFixed(1)} ms, p99 +${c.p99Ms.toFixed(1)} ms; throughput × ${c.throughputRatio.toFixed(2)} of no log\n`,
    );
  }

  const books: Books[] = [];
  if (correctnessOrders > 0) {
    for (const log of ['embedded', 'postgres'] as const) {
      if (only && only !== log) continue;
      const b = await correctness(log, correctnessOrders, concurrency, faultRate, tokens);
      books.push(b);
      process.stdout.write(
        `${log}: ${b.orders} orders at ${(faultRate * 100).toFixed(1)}% faults per write route: heard ${JSON.stringify(b.heard)}; ` +
          `charges ${b.charges} = orders ${b.placed} + refunds ${b.refunds}; reservations ${b.reservations} = orders ${b.committed} + released ${b.released}; duplicate charges ${b.duplicateCharges}: ${b.balanced ? 'BALANCED' : 'NOT BALANCED'}\n`,
      );
    }
  }

  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = { kind: 'orders', at: new Date().toISOString(), machine: machineInfo(), rounds, orders, concurrency, rows, costs, correctness: books };
  writeFileSync(`${RESULTS_DIR}orders.json`, `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`\n${markdownTable(['log', 'orders/s', 'p50 ms', 'p99 ms', 'gateway CPU ms/order', 'PostgreSQL CPU ms/order', 'log calls/order'], rows.map((r) => [r.log, r.ordersPerS.toFixed(0), r.p50.toFixed(1), r.p99.toFixed(1), r.gatewayCpuMsPerOrder.toFixed(2), r.postgresCpuMsPerOrder === null ? '' : r.postgresCpuMsPerOrder.toFixed(2), r.logCallsPerOrder.toFixed(1)]))}\n`);
  process.stdout.write(`written: bench/results/orders.json\n`);
  if (books.some((b) => !b.balanced)) throw new Error('the books do not balance');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`orders bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
