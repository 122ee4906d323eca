/**
 * `WORKERS=N` (or `--workers N`): one deployment on every core. The primary process forks N workers
 * with node:cluster; each runs a whole gateway on the same port (the primary shares the listening
 * socket and spreads connections). A worker that dies is replaced, at most once a second. SIGTERM
 * or SIGINT on the primary stops every worker gracefully, then the primary.
 *
 * Each worker has its own memory cache, breakers and trace store; with REDIS_URL the cache is shared.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from './logging.js';

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
export function runPrimary(workers: number, logger: Logger): Promise<string> {
  let stopping = false;
  let lastFork = 0;
  const listening = new Set<number>();
  return new Promise((resolve, reject) => {
    let url: string | undefined;
    const fork = (): Worker => {
      lastFork = Date.now();
      const w = cluster.fork();
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
        if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
        return;
      }
      logger.error({ worker: w.id, code, signal }, 'worker exited; replacing it');
      if (url === undefined) return reject(new Error(`a worker exited (${code ?? signal}) before listening`));
      const wait = Math.max(0, 1_000 - (Date.now() - lastFork));
      setTimeout(fork, wait);
    });
    for (let i = 0; i < workers; i++) fork();
    const stop = () => {
      if (stopping) return;
      stopping = true;
      const all = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      if (all.length === 0) process.exit(0);
      for (const w of all) w.process.kill('SIGTERM');
      setTimeout(() => process.exit(1), 10_000).unref();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
