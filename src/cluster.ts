/**
 * `WORKERS=N` (or `--workers N`): one deployment on every core. The primary process forks N workers
 * with node:cluster; each runs a whole gateway on the same port (the primary shares the listening
 * socket and spreads connections). A worker that dies is replaced, at most once a second. SIGTERM
 * or SIGINT on the primary stops every worker gracefully, then the primary.
 *
 * Each worker has its own memory cache, breakers and trace store; with REDIS_URL the cache is shared.
 *
 * Workers' standard output comes to the primary through a pipe each, and the primary writes their
 * lines, whole, to its own (one LogOutput): several processes writing batches to one shared pipe
 * would interleave parts of lines once the pipe is full (writes over 4 KB are not atomic). A primary
 * behind on its output stops reading, so a worker's own bounded queue fills and drops (counted in
 * that worker's /metrics) rather than the primary's memory growing.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Readable } from 'node:stream';
import { stdoutLog, type Logger } from './logging.js';

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
function exitAfterLog(code: number): void {
  setTimeout(() => process.exit(code), 2_000).unref();
  const done = () => stdoutLog().flush(() => process.exit(code));
  if (forwarding.size === 0) return done();
  for (const st of forwarding) st.once('close', () => forwarding.size === 0 && done());
}

/** `--workers N` from argv (wins over WORKERS), or undefined. */
export function workersArgument(argv: readonly string[]): string | undefined {
  const i = argv.indexOf('--workers');
  if (i >= 0) return argv[i + 1];
  return argv.find((a) => a.startsWith('--workers='))?.slice('--workers='.length);
}

/**
 * Run the primary: fork `workers` workers, resolve with the URL once every one listens, keep the
 * pool at size until SIGTERM/SIGINT, then stop the workers and exit.
 */
/** A worker's output, line by line, into the primary's LogOutput; paused while that is behind. */
function forwardLines(from: Readable, paused: Set<Readable>): void {
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
    if (out.stats().pendingChars > FORWARD_PAUSE_CHARS && paused.size === 0) {
      // Only the log lines wait: a worker's standard error (a crash trace) keeps flowing.
      const streams = [...logStreams];
      for (const st of streams) {
        st.pause();
        paused.add(st);
      }
      out.flush(() => {
        for (const st of paused) st.resume();
        paused.clear();
      });
    }
  });
  from.on('end', () => {
    if (rest) out.write(`${rest}\n`);
  });
  from.on('close', () => {
    forwarding.delete(from);
    logStreams.delete(from);
  });
  forwarding.add(from);
  logStreams.add(from);
}
/** Every worker output still open (stdout and stderr), and the stdout ones (paused while the primary is behind). */
const forwarding = new Set<Readable>();
const logStreams = new Set<Readable>();

export function runPrimary(workers: number, logger: Logger): Promise<string> {
  // Workers' standard output and error come to the primary (forwardLines; stderr as it is).
  cluster.setupPrimary({ silent: true });
  const paused = new Set<Readable>();
  let stopping = false;
  let lastFork = 0;
  const listening = new Set<number>();
  return new Promise((resolve, reject) => {
    let url: string | undefined;
    const fork = (): Worker => {
      lastFork = Date.now();
      const w = cluster.fork();
      if (w.process.stdout) forwardLines(w.process.stdout, paused);
      const err = w.process.stderr;
      if (err) {
        // As it comes (a crash trace), without a pipe: no listeners pile up on process.stderr.
        err.on('data', (chunk: Buffer) => process.stderr.write(chunk));
        forwarding.add(err);
        err.on('close', () => forwarding.delete(err));
      }
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
        if (Object.keys(cluster.workers ?? {}).length === 0) exitAfterLog(0);
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
      if (all.length === 0) exitAfterLog(0);
      for (const w of all) w.process.kill('SIGTERM');
      setTimeout(() => process.exit(1), 10_000).unref();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
