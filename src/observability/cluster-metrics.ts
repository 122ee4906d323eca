/**
 * `/metrics` under `--workers N`: the primary shares the port, so a scrape lands on one worker; that
 * worker asks the primary, which gathers every worker's registry with prom-client's
 * `AggregatorRegistry` (counters and histograms summed, gauges by their declared aggregator) and
 * answers with the whole process's text. Without it each scrape showed one random worker's counts.
 *
 * Outside a cluster nothing here runs: the registry answers for itself.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const REQUEST = 'tributary:metrics';
const ANSWER = 'tributary:metrics-answer';

interface MetricsRequest {
  readonly type: typeof REQUEST;
  readonly id: number;
}
interface MetricsAnswer {
  readonly type: typeof ANSWER;
  readonly id: number;
  readonly text?: string;
  readonly error?: string;
}

/** How long a worker waits for the primary's aggregate before answering with its own registry (ms). */
const ANSWER_TIMEOUT_MS = 5_000;

let serving = false;

/**
 * In the primary: answer workers' requests for the whole process's metrics. Idempotent.
 *
 * @example
 * serveClusterMetrics(); // in runPrimary, before forking
 */
export function serveClusterMetrics(): void {
  if (serving || !cluster.isPrimary) return;
  serving = true;
  // Constructing it installs prom-client's listener for the workers' answers.
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, m: MetricsRequest) => {
    if (m?.type !== REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.isConnected() && worker.send({ type: ANSWER, id: m.id, text } satisfies MetricsAnswer),
      (e: unknown) => worker.isConnected() && worker.send({ type: ANSWER, id: m.id, error: e instanceof Error ? e.message : String(e) } satisfies MetricsAnswer),
    );
  });
}

/** In a worker: the registry prom-client reports to the primary's aggregation (this gateway's). */
export function joinClusterMetrics(registry: Registry): void {
  if (!cluster.isWorker) return;
  // Installs prom-client's listener for the primary's requests (in a worker it only answers them).
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
}

let nextId = 0;
const pending = new Map<number, (a: MetricsAnswer) => void>();
let listening = false;

/**
 * The whole process's metrics text: in a cluster worker, the primary's aggregate of every worker;
 * elsewhere (or when the primary does not answer in time) undefined, and the caller serves its own.
 */
export function clusterMetricsText(): Promise<string | undefined> {
  if (!cluster.isWorker || !process.send) return Promise.resolve(undefined);
  if (!listening) {
    listening = true;
    process.on('message', (m: MetricsAnswer) => {
      if (m?.type === ANSWER) pending.get(m.id)?.(m);
    });
  }
  const id = nextId++;
  return new Promise((resolve) => {
    const timer = setTimeout(() => settle({ type: ANSWER, id, error: 'timeout' }), ANSWER_TIMEOUT_MS);
    function settle(a: MetricsAnswer): void {
      clearTimeout(timer);
      pending.delete(id);
      resolve(a.error === undefined ? a.text : undefined);
    }
    pending.set(id, settle);
    process.send!({ type: REQUEST, id } satisfies MetricsRequest);
  });
}
