/**
 * Pieces shared by the resilience and cache benchmarks: processes pinned to cores, a load run with
 * autocannon, the sandbox's admin routes, medians.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { DEFAULT_SANDBOX_CREDENTIALS as C } from '../sandbox/index.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CATEGORY_PAGE = readFileSync(new URL('../operations/CategoryPage.graphql', import.meta.url), 'utf8');
/** The two categories of the data set with at least 20 products: a CategoryPage of 20 nodes each. */
const FULL_CATEGORIES = ['groceries', 'kitchen-accessories'] as const;

const HAS_TASKSET = spawnSync('taskset', ['--version']).status === 0;

/** `--name value` from argv. */
export function argValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A child process pinned to one core (when taskset exists), resolved once `ready` matches its output. */
export interface Pinned {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly output: () => string;
  stop(): Promise<void>;
}

function startPinned(core: number, args: string[], env: Record<string, string>, ready: RegExp): Promise<Pinned & { match: RegExpExecArray }> {
  const cmd = HAS_TASKSET ? 'taskset' : process.execPath;
  const argv = HAS_TASKSET ? ['-c', String(core), process.execPath, ...args] : args;
  const child = spawn(cmd, argv, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let seen = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process did not become ready: ${seen}`)), 30_000);
    const onData = (d: Buffer) => {
      // Keep the start of the output for diagnostics; drain the rest (an info log line per request).
      if (seen.length < 20_000) seen += d.toString();
      out = seen;
      const m = ready.exec(seen);
      if (m && timer) {
        clearTimeout(timer);
        resolve({
          child,
          pid: child.pid!,
          match: m,
          output: () => out,
          stop: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`process exited (${code}) before ready: ${seen}`)));
  });
}

/** The sandbox shop in its own process on core 1 (shared with the load generator), ephemeral ports. */
export async function startSandboxProcess(opts: { latencyMs?: Record<string, number>; seed?: number } = {}): Promise<{ urls: Record<string, string>; stop(): Promise<void> }> {
  const env: Record<string, string> = { SANDBOX_PORT_BASE: '0', SANDBOX_SEED: String(opts.seed ?? 1), SANDBOX_LATENCY_MS: '5' };
  for (const [name, ms] of Object.entries(opts.latencyMs ?? {})) env[`SANDBOX_${name.toUpperCase()}_LATENCY_MS`] = String(ms);
  const p = await startPinned(1, ['--import', 'tsx', 'sandbox/main.ts'], env, /accounts\s+(http:\/\/\S+)/);
  const urls: Record<string, string> = {};
  for (const m of p.output().matchAll(/^(\w+)\s+(http:\/\/\S+)$/gm)) urls[m[1]!] = m[2]!;
  return { urls, stop: p.stop };
}

/** A gateway process on core 0, wired to the given upstreams with the sandbox's credentials. */
export async function startGateway(opts: { upstreams: Record<string, string>; env?: Record<string, string> }): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const env: Record<string, string> = { NODE_ENV: 'development', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...opts.env };
  for (const [name, url] of Object.entries(opts.upstreams)) env[`UPSTREAM_${name.toUpperCase()}_URL`] = url;
  Object.assign(env, {
    PRICING_TOKEN: C.pricingToken,
    INVENTORY_API_KEY: C.inventoryApiKey,
    REVIEWS_TOKEN: C.reviewsToken,
    RECOMMENDATIONS_API_KEY: C.recommendationsApiKey,
    SHIPPING_CLIENT_ID: C.shippingClientId,
    SHIPPING_CLIENT_SECRET: C.shippingClientSecret,
    TAX_USERNAME: C.taxUsername,
    TAX_PASSWORD: C.taxPassword,
    ACCOUNTS_TOKEN: C.accountsToken,
    ...opts.env,
  });
  const p = await startPinned(0, ['--import', 'tsx', 'src/main.ts'], env, /"url":"(http:\/\/[^"]+)\/graphql"[^\n]*"msg":"tributary listening"/);
  return { url: p.match[1]!, pid: p.pid, stop: p.stop };
}

/** Replace (or clear, with null) an upstream's fault spec over its admin route. */
export async function setFaults(upstreamUrl: string, spec: Record<string, unknown> | null): Promise<void> {
  const res = spec
    ? await fetch(`${upstreamUrl}/__faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) })
    : await fetch(`${upstreamUrl}/__faults`, { method: 'DELETE' });
  if (!res.ok) throw new Error(`setting faults on ${upstreamUrl}: ${res.status} ${await res.text()}`);
}

export async function resetSandboxStats(urls: Record<string, string>): Promise<void> {
  await Promise.all(Object.values(urls).map((u) => fetch(`${u}/__stats`, { method: 'DELETE' })));
}

/** Requests each upstream received since the last reset. */
export async function sandboxCalls(urls: Record<string, string>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  await Promise.all(
    Object.entries(urls).map(async ([name, u]) => {
      out[name] = ((await (await fetch(`${u}/__stats`)).json()) as { total: number }).total;
    }),
  );
  return out;
}

/** CategoryPage bodies (20 products each), alternating the two full categories. */
export function categoryRequests(): string[] {
  return FULL_CATEGORIES.map((slug) => JSON.stringify({ query: CATEGORY_PAGE, variables: { slug, first: 20 } }));
}

export interface LoadResult {
  readonly requests: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
  /** Responses `countComplete` accepted, when given. */
  readonly complete?: number;
}

/** CPU time (user + system) of a process so far, in ms, from /proc (Linux). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the full line)
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

/** A closed-loop load run: `connections` clients POSTing the bodies in turn for `durationS` seconds. */
export function runLoad(opts: { url: string; requests: readonly string[]; connections: number; durationS: number; countComplete?: (body: string) => boolean }): Promise<LoadResult> {
  let complete = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${opts.url}/graphql`,
        connections: opts.connections,
        duration: opts.durationS,
        requests: opts.requests.map((body) => ({
          method: 'POST' as const,
          headers: { 'content-type': 'application/json' },
          body,
          ...(opts.countComplete
            ? {
                onResponse: (status: number, body: string) => {
                  if (status === 200 && opts.countComplete!(body)) complete++;
                },
              }
            : {}),
        })),
      },
      (err: Error | null, r: autocannon.Result) => {
        if (err) return reject(err);
        const requests = r.requests.total;
        resolve({
          requests,
          rps: requests / opts.durationS,
          p50: r.latency.p50,
          p99: r.latency.p99,
          non2xx: r.non2xx,
          errors: r.errors + r.timeouts,
          ...(opts.countComplete ? { complete } : {}),
        });
      },
    );
    void instance;
  });
}
