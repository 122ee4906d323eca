/**
 * `WORKERS=N` (or `--workers N`): one deployment on every core. The primary process forks N workers
 * with node:cluster; each runs a whole gateway on the same port (the primary shares the listening
 * socket and spreads connections). A worker that dies is replaced, at most once a second. SIGTERM
 * or SIGINT on the primary drains every worker (none is replaced once a stop began), then the primary
 * exits; past the drain's time and 5 s more, it exits anyway.
 *
 * Each worker has its own memory cache, breakers and trace store; with REDIS_URL the cache is shared.
 * `/metrics` answers for the whole process: the worker scraped asks the primary, which aggregates
 * every worker's registry (prom-client's AggregatorRegistry, `observability/cluster-metrics.ts`).
 *
 * Workers' standard output comes to the primary through a pipe each, and the primary writes their
 * lines, whole, to its own (one LogOutput): several processes writing batches to one shared pipe
 * would interleave parts of lines once the pipe is full (writes over 4 KB are not atomic). A primary
 * behind on its output stops reading, so a worker's own bounded queue fills and drops (counted in
 * that worker's /metrics) rather than the primary's memory growing.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Readable } from 'node:stream';
import { exitOnceLogged, stdoutLog, type Logger } from './logging.js';
import { serveClusterMetrics } from './observability/cluster-metrics.js';

/** Characters the primary lets queue on its output before it stops reading the workers' pipes. */
const FORWARD_PAUSE_CHARS = 1024 * 1024;

/** Sent by a worker to the primary once its server listens. */
export interface ListeningMessage {
  readonly type: 'tributary:listening';
  readonly url: string;
}

export const isClusterWorker = (): boolean => cluster.isWorker;

/** In a worker: tell the primary that this worker listens at `url`. No-op outside a cluster. */
export function reportListening(url: string): void {
  if (cluster.isWorker && process.send) process.send({ type: 'tributary:listening', url } satisfies ListeningMessage);
}

/** Exit once every worker's output has ended and the primary has written it (at most 2 s). */
function exitAfterWorkersLogged(code: number): void {
  exitOnceLogged(code, (cb) => {
    const flush = () => stdoutLog().flush(cb);
    if (open.size === 0) return flush();
    for (const st of open) st.once('close', () => open.size === 0 && flush());
  });
}

/** `--workers N` from argv (wins over WORKERS), or undefined. */
export function workersArgument(argv: readonly string[]): string | undefined {
  const i = argv.indexOf('--workers');
  if (i >= 0) return argv[i + 1];
  return argv.find((a) => a.startsWith('--workers='))?.slice('--workers='.length);
}

/** Worker outputs still open (stdout and stderr): a stop waits for them. */
const open = new Set<Readable>();
/** The workers' stdout streams, paused together while the primary's output is behind. */
const logs = new Set<Readable>();
let held = false;

/** A worker's stdout, line by line, into the primary's LogOutput (paused while that is behind); its stderr as it comes. */
function forwardOutput(w: Worker): void {
  const track = (st: Readable): void => {
    open.add(st);
    st.on('close', () => {
      open.delete(st);
      logs.delete(st);
    });
  };
  const err = w.process.stderr;
  if (err) {
    // As it comes (a crash trace), never paused, without a pipe: no listeners pile up on process.stderr.
    err.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    track(err);
  }
  const from = w.process.stdout;
  if (!from) return;
  track(from);
  logs.add(from);
  const out = stdoutLog();
  let rest = '';
  from.setEncoding('utf8');
  from.on('data', (text: string) => {
    const all = rest + text;
    const end = all.lastIndexOf('\n');
    if (end === -1) {
      rest = all;
      return;
    }
    rest = all.slice(end + 1);
    for (const line of all.slice(0, end).split('\n')) if (line) out.write(`${line}\n`);
    if (!held && out.stats().pendingChars > FORWARD_PAUSE_CHARS) {
      held = true;
      for (const st of logs) st.pause();
      out.flush(() => {
        held = false;
        for (const st of logs) st.resume();
      });
    }
  });
  from.on('end', () => {
    if (rest) out.write(`${rest}\n`);
  });
}

/**
 * Run the primary: fork `workers` workers, resolve with the URL once every one listens, keep the
 * pool at size until SIGTERM/SIGINT, then stop the workers and exit.
 */
export function runPrimary(workers: number, logger: Logger, drainMs = 15_000): Promise<string> {
  // Workers' standard output and error come to the primary (forwardOutput).
  cluster.setupPrimary({ silent: true });
  // A scrape of /metrics lands on one worker, which asks here for every worker's metrics.
  serveClusterMetrics();
  let stopping = false;
  let lastFork = 0;
  const listening = new Set<number>();
  return new Promise((resolve, reject) => {
    let url: string | undefined;
    const fork = (): Worker => {
      lastFork = Date.now();
      const w = cluster.fork();
      forwardOutput(w);
      w.on('message', (m: ListeningMessage) => {
        if (m?.type !== 'tributary:listening') return;
        listening.add(w.id);
        url = m.url;
        if (listening.size === workers) resolve(m.url);
      });
      return w;
    };
    cluster.on('exit', (w, code, signal) => {
      listening.delete(w.id);
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0) exitAfterWorkersLogged(0);
        return;
      }
      logger.error({ worker: w.id, code, signal }, 'worker exited; replacing it');
      if (url === undefined) return reject(new Error(`a worker exited (${code ?? signal}) before listening`));
      const wait = Math.max(0, 1_000 - (Date.now() - lastFork));
      // A replacement due after a stop began is not started (it would never be told to stop).
      setTimeout(() => stopping || fork(), wait);
    });
    for (let i = 0; i < workers; i++) fork();
    const stop = () => {
      if (stopping) return;
      stopping = true;
      const all = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      if (all.length === 0) exitAfterWorkersLogged(0);
      // Each worker drains (SHUTDOWN_GRACE_MS, then SHUTDOWN_TIMEOUT_MS) and exits; the primary waits for them, a while longer at most.
      logger.info({ workers: all.length, drainMs }, 'stopping: every worker drains');
      for (const w of all) w.process.kill('SIGTERM');
      setTimeout(() => process.exit(1), drainMs + 5_000).unref();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
