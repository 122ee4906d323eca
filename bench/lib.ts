/**
 * Shared benchmark helpers (issue 8; reusable by every bench/*.ts): processes pinned to a core with
 * taskset, the sandbox with a fixed latency, a Tributary gateway process, autocannon rounds with a
 * discarded warm-up, CPU ms and peak RSS of a process (tree) from /proc, medians, Markdown tables.
 *
 * Layout: core 0 = the gateway under test; core 1 = the sandbox, the load generator and this script.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { DEFAULT_SANDBOX_CREDENTIALS } from '../sandbox/index.js';
import { credentialEnv, DEFINITIONS, secretRefsOf, upstreamUrlEnv } from '../test/support/definitions.js';

/** The repository root (cwd of every child process). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** True when `taskset` exists (Linux with util-linux); without it nothing is pinned and the results say so. */
export const HAS_TASKSET = spawnSync('taskset', ['--version']).status === 0;

/** `--name value` from argv, or undefined. */
export function argValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** Median of the values (NaN for none). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Pin this process (every thread) to a core, e.g. the load generator's core 1. No-op without taskset. */
export function pinSelf(core: number): void {
  if (HAS_TASKSET) spawnSync('taskset', ['-a', '-c', '-p', String(core), String(process.pid)], { stdio: 'ignore' });
}

/** A child process pinned to a core, started once its output matched `ready`. */
export interface Pinned {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The ready pattern's match (e.g. the URL it printed). */
  readonly match: RegExpExecArray;
  /** The first ~20 KB of its stdout+stderr (diagnostics). */
  output(): string;
  /** SIGTERM, resolved when it has exited. */
  stop(): Promise<void>;
}

/**
 * Start `node <args>` pinned to `core` (when taskset exists), with a minimal environment plus `env`;
 * resolves once stdout/stderr matches `ready`; later output is drained and dropped.
 */
export function startPinned(opts: { core: number | string; args: readonly string[]; env?: Record<string, string>; ready: RegExp; cwd?: string; timeoutMs?: number }): Promise<Pinned> {
  const cmd = HAS_TASKSET ? 'taskset' : process.execPath;
  const argv = HAS_TASKSET ? ['-c', String(opts.core), process.execPath, ...opts.args] : [...opts.args];
  const child = spawn(cmd, argv, {
    cwd: opts.cwd ?? ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let seen = '';
  let done = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${opts.args.join(' ')} did not become ready: ${seen.slice(-2000)}`));
    }, opts.timeoutMs ?? 60_000);
    const onData = (d: Buffer) => {
      if (seen.length < 20_000) seen += d.toString();
      if (done) return;
      const m = opts.ready.exec(seen);
      if (!m) return;
      done = true;
      clearTimeout(timer);
      resolve({
        child,
        pid: child.pid!,
        match: m,
        output: () => seen,
        stop: () =>
          new Promise<void>((ok) => {
            if (child.exitCode !== null || child.signalCode !== null) return ok();
            child.once('exit', () => ok());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
          }),
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      if (!done) {
        clearTimeout(timer);
        reject(new Error(`${opts.args.join(' ')} exited (${code ?? signal}) before ready: ${seen.slice(-2000)}`));
      }
    });
  });
}

/**
 * The sandbox's credentials under the variable names the gateway (and every peer) reads: every
 * variable the definitions declare (their sandbox defaults) and every one a sandbox upstream accepts.
 */
export const SANDBOX_CREDENTIAL_ENV: Readonly<Record<string, string>> = {
  ...Object.fromEntries(DEFINITIONS.flatMap((d) => secretRefsOf(d).flatMap((r) => (r.sandboxDefault ? [[r.env, r.sandboxDefault]] : [])))),
  ...credentialEnv(DEFAULT_SANDBOX_CREDENTIALS),
};

/**
 * The URL variables for the given upstream URLs (each definition's `baseUrlEnv`; `UPSTREAM_<NAME>_URL`
 * for a sandbox upstream with no definition, which peers may read), plus the sandbox credentials.
 */
export function upstreamEnv(urls: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = { ...SANDBOX_CREDENTIAL_ENV };
  for (const [name, url] of Object.entries(urls)) env[`UPSTREAM_${name.toUpperCase().replace(/-/g, '_')}_URL`] = url;
  return Object.assign(env, upstreamUrlEnv(urls));
}

/** A running sandbox process. */
export interface SandboxProcess {
  readonly urls: Record<string, string>;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * The sandbox shop in its own process (core 1 by default), ephemeral ports, every upstream at the
 * same fixed latency `latencyMs` (default 5) unless `perUpstreamMs` says otherwise.
 */
export async function startSandbox(opts: { latencyMs?: number; perUpstreamMs?: Record<string, number>; seed?: number; core?: number } = {}): Promise<SandboxProcess> {
  const env: Record<string, string> = { SANDBOX_PORT_BASE: '0', SANDBOX_SEED: String(opts.seed ?? 1), SANDBOX_LATENCY_MS: String(opts.latencyMs ?? 5) };
  for (const [name, ms] of Object.entries(opts.perUpstreamMs ?? {})) env[`SANDBOX_${name.toUpperCase()}_LATENCY_MS`] = String(ms);
  const p = await startPinned({ core: opts.core ?? 1, args: ['--import', 'tsx', 'sandbox/main.ts'], env, ready: /^sandbox ready$/m });
  const urls: Record<string, string> = {};
  for (const m of p.output().matchAll(/^(\w+)\s+(http:\/\/\S+)$/gm)) urls[m[1]!] = m[2]!;
  return { urls, pid: p.pid, stop: p.stop };
}

/** A running gateway (Tributary or a peer): its base URL (GraphQL at `${url}/graphql`) and pid. */
export interface GatewayProcess {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * How `npm start` runs the gateway: package.json's start script is `node <V8 flags> <entry>`, the
 * entry being the compiled `dist/src/main.js` (built by `npm run build`, which `prestart` runs).
 */
const START_ARGS: readonly string[] = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: { start: string } }).scripts.start.split(/\s+/).slice(1);
/** The V8 flags `npm start` gives node (everything before the entry script). */
export const START_FLAGS: readonly string[] = START_ARGS.slice(0, -1);
/** The script `npm start` runs. */
export const START_ENTRY: string = START_ARGS[START_ARGS.length - 1]!;

const built = new Set<string>();
/** Compile the gateway in `cwd` as `npm start` does (`npm run build`), once per checkout and benchmark process. */
export function buildGateway(cwd = ROOT): void {
  if (built.has(cwd)) return;
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`npm run build failed in ${cwd}`);
  built.add(cwd);
}

/**
 * The gateway as deployed, every feature on: production mode, logging at info, traces collected,
 * hedging and breakers on. Every benchmark starts Tributary with these (plus its own CACHE etc.).
 */
export const TRIBUTARY_FEATURES: Readonly<Record<string, string>> = {
  NODE_ENV: 'production',
  JWT_SECRET: 'bench-only-secret-of-at-least-32-characters!',
  LOG_LEVEL: 'info',
  TRACES: 'on',
  HEDGING: 'on',
  BREAKERS: 'on',
};

/**
 * A Tributary process (as `npm start` runs it: compiled, `dist/src/main.js`) on `core` (default 0) wired to the sandbox URLs, logging at info,
 * production-like (`NODE_ENV=development` only so the sandbox credentials' defaults apply). `env`
 * adds or overrides variables (CACHE=off, WORKERS=2...); `nodeArgs` go before the script (--cpu-prof...).
 */
export async function startTributary(opts: { upstreams: Readonly<Record<string, string>>; env?: Record<string, string>; core?: number | string; nodeArgs?: readonly string[]; cwd?: string }): Promise<GatewayProcess> {
  const env: Record<string, string> = { NODE_ENV: 'development', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...upstreamEnv(opts.upstreams), ...opts.env };
  buildGateway(opts.cwd ?? ROOT);
  const p = await startPinned({
    core: opts.core ?? 0,
    args: [...START_FLAGS, ...(opts.nodeArgs ?? []), START_ENTRY],
    env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ready: /"url":"(http:\/\/[^"]+)\/graphql"[^\n]*"msg":"tributary listening"/,
  });
  return { url: p.match[1]!, pid: p.pid, stop: p.stop };
}

/** Reset every upstream's request counters (`DELETE /__stats`). */
export async function resetSandboxStats(urls: Readonly<Record<string, string>>): Promise<void> {
  await Promise.all(Object.values(urls).map((u) => fetch(`${u}/__stats`, { method: 'DELETE' }).then((r) => r.arrayBuffer())));
}

/** Requests each upstream received since the last reset, by upstream name. */
export async function sandboxCalls(urls: Readonly<Record<string, string>>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  await Promise.all(
    Object.entries(urls).map(async ([name, u]) => {
      out[name] = ((await (await fetch(`${u}/__stats`)).json()) as { total: number }).total;
    }),
  );
  return out;
}

/**
 * Hedged requests (header `x-tributary-hedge: 1`) each upstream received since the last reset,
 * estimated from the sandbox's ring of its 1,000 most recent requests (exact below 1,000 requests).
 */
export async function sandboxHedged(urls: Readonly<Record<string, string>>): Promise<number> {
  let hedged = 0;
  await Promise.all(
    Object.values(urls).map(async (u) => {
      const s = (await (await fetch(`${u}/__stats`)).json()) as { total: number; requests: { headers: Record<string, string> }[] };
      const inRing = s.requests.filter((r) => r.headers['x-tributary-hedge'] === '1').length;
      hedged += s.requests.length ? (inRing * s.total) / s.requests.length : 0;
    }),
  );
  return hedged;
}

/** Child pids of a process (Linux), recursively: cluster workers are counted with their primary. */
export function processTree(pid: number): number[] {
  const out = [pid];
  try {
    for (const task of readdirTasks(pid)) {
      const kids = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      for (const k of kids ? kids.split(/\s+/) : []) out.push(...processTree(Number(k)));
    }
  } catch {
    /* gone, or not Linux */
  }
  return out;
}

function readdirTasks(pid: number): string[] {
  return existsSync(`/proc/${pid}/task`) ? readdirSync(`/proc/${pid}/task`) : [];
}

/** CPU time (user + system) in ms of a process so far, from /proc/<pid>/stat (0 when unreadable). */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, USER_HZ = 100
  } catch {
    return 0;
  }
}

/** CPU ms of a process and all its descendants (pass the pids once, before the load, for stable sets). */
export function treeCpuMs(pids: readonly number[]): number {
  return pids.reduce((n, p) => n + cpuMs(p), 0);
}

/** Resident set size now (VmRSS) and peak (VmHWM) of a process, in MB, from /proc/<pid>/status. */
export function rssMb(pid: number): { rss: number; peak: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
    return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
  } catch {
    return { rss: 0, peak: 0 };
  }
}

/** Samples the summed RSS of the given pids every `everyMs`; `stop()` returns the largest sample in MB. */
export function sampleRss(pids: readonly number[], everyMs = 250): { stop(): number } {
  let max = 0;
  const tick = () => {
    max = Math.max(max, pids.reduce((n, p) => n + rssMb(p).rss, 0));
  };
  tick();
  const t = setInterval(tick, everyMs);
  return {
    stop() {
      clearInterval(t);
      tick();
      return max;
    },
  };
}

/** One timed autocannon run. Latencies in ms. */
export interface LoadResult {
  readonly requests: number;
  readonly durationS: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
  /** Responses `check` refused (a 200 with the wrong body). */
  readonly wrong: number;
}

/**
 * A closed-loop load run: `connections` clients POSTing the JSON `bodies` in turn to `url` (full URL,
 * e.g. `${base}/graphql`) for `durationS` seconds. `check`, when given, is run on every 200 body.
 */
export function runLoad(opts: { url: string; bodies: readonly string[]; connections: number; durationS: number; headers?: Record<string, string>; check?: (body: string) => boolean }): Promise<LoadResult> {
  let wrong = 0;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: opts.url,
        connections: opts.connections,
        duration: opts.durationS,
        requests: opts.bodies.map((body) => ({
          method: 'POST' as const,
          headers: { 'content-type': 'application/json', ...opts.headers },
          body,
          ...(opts.check
            ? {
                onResponse: (status: number, resBody: string) => {
                  if (status === 200 && !opts.check!(resBody)) wrong++;
                },
              }
            : {}),
        })),
      },
      (err: Error | null, r: autocannon.Result) => {
        if (err) return reject(err);
        resolve({
          requests: r.requests.total,
          durationS: opts.durationS,
          rps: r.requests.total / opts.durationS,
          p50: r.latency.p50,
          p99: r.latency.p99,
          non2xx: r.non2xx,
          errors: r.errors + r.timeouts,
          wrong,
        });
      },
    );
  });
}

/** A timed round with its process figures. */
export interface RoundResult extends LoadResult {
  /** CPU ms of the gateway (its whole process tree) per request. */
  readonly cpuMsPerRequest: number;
  /** Largest summed RSS of the gateway's processes during the round, MB. */
  readonly peakRssMb: number;
  /** Upstream requests per query (sandbox counters), when `sandboxUrls` were given. */
  readonly upstreamCallsPerQuery: number;
  /** Of those, hedged requests per query (a second copy of a slow call), estimated. */
  readonly hedgedCallsPerQuery: number;
}

/**
 * One round: a discarded warm-up of `warmupS`, then a timed run of `durationS` measuring the
 * gateway's CPU (from /proc, the whole process tree), peak RSS and the sandbox's upstream calls.
 */
export async function round(opts: { gatewayPid: number; url: string; bodies: readonly string[]; connections: number; durationS: number; warmupS: number; sandboxUrls?: Readonly<Record<string, string>>; check?: (body: string) => boolean }): Promise<RoundResult> {
  if (opts.warmupS > 0) await runLoad({ url: opts.url, bodies: opts.bodies, connections: opts.connections, durationS: opts.warmupS });
  const pids = processTree(opts.gatewayPid);
  if (opts.sandboxUrls) await resetSandboxStats(opts.sandboxUrls);
  const cpu0 = treeCpuMs(pids);
  const rss = sampleRss(pids);
  const r = await runLoad({ url: opts.url, bodies: opts.bodies, connections: opts.connections, durationS: opts.durationS, ...(opts.check ? { check: opts.check } : {}) });
  const cpu = treeCpuMs(pids) - cpu0;
  const peakRssMb = rss.stop();
  let calls = NaN;
  let hedged = NaN;
  if (opts.sandboxUrls) {
    const byName = await sandboxCalls(opts.sandboxUrls);
    calls = Object.values(byName).reduce((a, b) => a + b, 0) / Math.max(1, r.requests);
    hedged = (await sandboxHedged(opts.sandboxUrls)) / Math.max(1, r.requests);
  }
  return { ...r, cpuMsPerRequest: cpu / Math.max(1, r.requests), peakRssMb, upstreamCallsPerQuery: calls, hedgedCallsPerQuery: hedged };
}

/** Medians over rounds of every numeric figure (errors, non2xx and wrong are summed instead). */
export function medianRound(rounds: readonly RoundResult[]): RoundResult {
  const m = (k: keyof RoundResult) => median(rounds.map((r) => r[k] as number));
  const sum = (k: keyof RoundResult) => rounds.reduce((n, r) => n + (r[k] as number), 0);
  return {
    requests: m('requests'),
    durationS: m('durationS'),
    rps: m('rps'),
    p50: m('p50'),
    p99: m('p99'),
    non2xx: sum('non2xx'),
    errors: sum('errors'),
    wrong: sum('wrong'),
    cpuMsPerRequest: m('cpuMsPerRequest'),
    peakRssMb: Math.max(...rounds.map((r) => r.peakRssMb)),
    upstreamCallsPerQuery: m('upstreamCallsPerQuery'),
    hedgedCallsPerQuery: m('hedgedCallsPerQuery'),
  };
}

/** A Markdown table (also fine on a terminal). Cells are stringified as given. */
export function markdownTable(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/** POST a GraphQL body and return the parsed JSON answer (throws on a non-200). */
/**
 * Upstream calls per query, exactly: `bodies` sent one after another (nothing in flight when the
 * counters are read), hedged copies and OAuth2 token fetches (one per token lifetime, not per
 * query) left aside. The gateway must be warm.
 */
export async function exactCallsPerQuery(url: string, bodies: readonly string[], sandboxUrls: Readonly<Record<string, string>>, times = 5): Promise<number> {
  await resetSandboxStats(sandboxUrls);
  let n = 0;
  for (let i = 0; i < times; i++) {
    for (const b of bodies) {
      await postGraphQL(url, b);
      n++;
    }
  }
  let calls = 0;
  for (const u of Object.values(sandboxUrls)) {
    const s = (await (await fetch(`${u}/__stats`)).json()) as { counts: Record<string, number>; requests: { path: string; headers: Record<string, string> }[] };
    for (const r of s.requests) {
      if (r.headers['x-tributary-hedge'] !== '1' && !r.path.includes('/oauth/token')) calls++;
    }
  }
  return calls / n;
}

export async function postGraphQL(url: string, body: string, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as unknown;
}

/** Versions for the results: node, OS, CPU model, core count. */
export function machineInfo(): { node: string; os: string; cpu: string; cores: number; taskset: boolean } {
  let cpu = 'unknown';
  try {
    cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    /* not Linux */
  }
  const os = spawnSync('uname', ['-srm']).stdout?.toString().trim() ?? process.platform;
  const cores = Number(spawnSync('nproc', ['--all']).stdout?.toString().trim() || 0); // --all: this script is pinned to one core
  return { node: process.version, os, cpu, cores, taskset: HAS_TASKSET };
}
