/**
 * Prometheus metrics (prom-client), one registry per gateway. Upstream metrics come from the
 * connector's Telemetry events; request metrics from the end of each GraphQL request; prom-client's
 * default process and Node metrics (memory, CPU, event-loop lag, GC, handles); a build-info gauge
 * and the GraphQL requests in flight. Every label set is bounded: upstream and endpoint names come
 * from the definitions, operation names are capped. Under `--workers N` a scrape shows the whole
 * process, every worker aggregated (`cluster-metrics.ts`).
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Connector, Telemetry } from '../connector/index.js';
import { droppedLogLines } from '../logging.js';
import { projectPath } from '../paths.js';
import { clusterMetricsText, joinClusterMetrics } from './cluster-metrics.js';

/** The gateway's version, from its package.json (read once). */
const VERSION: string = (() => {
  try {
    return String((JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version?: unknown }).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
})();

/** Distinct operation names kept as labels; later ones are counted as `(other)`. */
const MAX_OPERATIONS = 200;
const BREAKER_STATES = ['closed', 'open', 'half-open', 'isolated'] as const;

/** How a GraphQL request ended, as counted: `refused` when it was answered before GraphQL ran. */
export type RequestOutcome = 'ok' | 'error' | 'refused';

export interface MetricsOptions {
  readonly telemetry: Telemetry;
  readonly connector: Connector;
  /** Log lines dropped because the log output fell behind (default: standard output's count). */
  readonly logLinesDropped?: () => number;
}

/** The gateway's metrics. `text()` is what `GET /metrics` serves. */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly operations = new Set<string>();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly requestDuration: Histogram<'operation' | 'type' | 'outcome'>;
  private readonly requests: Counter<'operation' | 'type' | 'outcome'>;
  private readonly graphqlErrors: Counter<'operation' | 'code'>;
  private readonly inFlight: Gauge;

  constructor(opts: MetricsOptions) {
    const registers = [this.registry];
    // Process and Node metrics: process_resident_memory_bytes, nodejs_heap_size_used_bytes,
    // nodejs_eventloop_lag_*, nodejs_gc_duration_seconds, process_cpu_seconds_total...
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'tributary_build_info',
      help: 'Always 1; the labels name the running build (version) and Node.js version.',
      labelNames: ['version', 'node'] as const,
      registers,
      aggregator: 'first',
    }).set({ version: VERSION, node: process.version }, 1);
    this.inFlight = new Gauge({ name: 'tributary_graphql_requests_in_flight', help: 'GraphQL HTTP requests received and not yet answered (refused ones included).', registers });
    const calls = new Counter({
      name: 'tributary_upstream_calls_total',
      help: 'HTTP attempts to upstreams, by outcome (ok, or the error code).',
      labelNames: ['upstream', 'endpoint', 'outcome'] as const,
      registers,
    });
    const latency = new Histogram({
      name: 'tributary_upstream_call_duration_seconds',
      help: 'Duration of HTTP attempts to upstreams.',
      labelNames: ['upstream', 'endpoint'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    const retries = new Counter({ name: 'tributary_upstream_retries_total', help: 'Retries scheduled, by the reason (error code) of the failed attempt.', labelNames: ['upstream', 'endpoint', 'reason'] as const, registers });
    const budget = new Counter({ name: 'tributary_upstream_retry_budget_exhausted_total', help: 'Retries or hedges refused by the retry budget.', labelNames: ['upstream', 'endpoint'] as const, registers });
    const hedges = new Counter({ name: 'tributary_upstream_hedges_total', help: 'Hedged (second) attempts started.', labelNames: ['upstream', 'endpoint'] as const, registers });
    const bulkhead = new Counter({ name: 'tributary_upstream_bulkhead_rejections_total', help: 'Calls rejected because the bulkhead was full.', labelNames: ['upstream', 'endpoint'] as const, registers });
    const transitions = new Counter({ name: 'tributary_upstream_breaker_transitions_total', help: 'Circuit breaker state changes, by the new state.', labelNames: ['upstream', 'state'] as const, registers });
    const connector = opts.connector;
    new Gauge({
      name: 'tributary_upstream_breaker_state',
      help: 'Circuit breaker state per upstream: 1 for the current state, 0 for the others (with --workers, the number of workers in each state).',
      labelNames: ['upstream', 'state'] as const,
      registers,
      collect() {
        for (const upstream of connector.upstreamNames) {
          const now = connector.breakerState(upstream);
          for (const state of BREAKER_STATES) this.set({ upstream, state }, now === state ? 1 : 0);
        }
      },
    });
    const cache = new Counter({ name: 'tributary_cache_keys_total', help: 'Cache outcomes per key (hit, miss, stale, coalesced), by store.', labelNames: ['upstream', 'endpoint', 'status', 'store'] as const, registers });
    const violations = new Counter({ name: 'tributary_upstream_contract_violations_total', help: 'Upstream responses that broke their declared schema, by contract mode.', labelNames: ['upstream', 'endpoint', 'mode'] as const, registers });
    this.requestDuration = new Histogram({
      name: 'tributary_graphql_request_duration_seconds',
      help: 'Duration of GraphQL requests, by operation.',
      labelNames: ['operation', 'type', 'outcome'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.requests = new Counter({
      name: 'tributary_graphql_requests_total',
      help: 'GraphQL requests, by operation and outcome: ok, error, or refused (answered before GraphQL ran: 401, 403 CSRF, 413, 429, 503; operation "(unknown)").', labelNames: ['operation', 'type', 'outcome'] as const, registers });
    this.graphqlErrors = new Counter({ name: 'tributary_graphql_errors_total', help: 'GraphQL errors returned, by operation and error code.', labelNames: ['operation', 'code'] as const, registers });

    const logLinesDropped = opts.logLinesDropped ?? droppedLogLines;
    new Counter({
      name: 'tributary_log_lines_dropped_total',
      help: 'Log lines dropped because the log output (standard output) could not keep up and its bounded queue was full, or was closed.',
      registers,
      collect() {
        this.reset();
        this.inc(logLinesDropped());
      },
    });

    const t = opts.telemetry;
    this.unsubscribe.push(
      t.on('attempt', (e) => {
        calls.inc({ upstream: e.upstream, endpoint: e.endpoint, outcome: e.error ? e.error : 'ok' });
        latency.observe({ upstream: e.upstream, endpoint: e.endpoint }, e.durationMs / 1000);
      }),
      t.on('retry', (e) => retries.inc({ upstream: e.upstream, endpoint: e.endpoint, reason: e.reason })),
      t.on('retryBudgetExhausted', (e) => budget.inc({ upstream: e.upstream, endpoint: e.endpoint })),
      t.on('hedge', (e) => hedges.inc({ upstream: e.upstream, endpoint: e.endpoint })),
      t.on('bulkheadRejected', (e) => bulkhead.inc({ upstream: e.upstream, endpoint: e.endpoint })),
      t.on('breakerState', (e) => transitions.inc({ upstream: e.upstream, state: e.state })),
      t.on('cache', (e) => cache.inc({ upstream: e.upstream, endpoint: e.endpoint, status: e.status, store: e.store }, e.keys)),
      t.on('contractViolation', (e) => violations.inc({ upstream: e.upstream, endpoint: e.endpoint, mode: e.mode })),
    );
    joinClusterMetrics(this.registry);
  }

  /**
   * Counts the server's GraphQL requests in flight: from the moment one arrives until its response is
   * done or its client has gone.
   */
  watch(server: Server): void {
    const gauge = this.inFlight;
    server.on('request', (req, res) => {
      if ((req.url ?? '').split('?', 1)[0] !== '/graphql') return;
      gauge.inc();
      res.once('close', () => gauge.dec());
    });
  }

  /**
   * Record one finished GraphQL request. A refused one (answered before GraphQL ran) is counted with
   * the outcome `refused`, so refusals (a client over its rate limit) never read as GraphQL failing.
   */
  request(operationName: string | null, operationType: string | null, durationMs: number, outcome: RequestOutcome, errorCodes: readonly string[]): void {
    const operation = outcome === 'refused' && operationName === null ? '(unknown)' : this.operationLabel(operationName);
    const type = operationType ?? 'unknown';
    this.requestDuration.observe({ operation, type, outcome }, durationMs / 1000);
    this.requests.inc({ operation, type, outcome });
    for (const code of errorCodes) this.graphqlErrors.inc({ operation, code });
  }

  /** The Prometheus text exposition: the whole process's (every worker's, under `--workers N`). */
  async text(): Promise<string> {
    const text = (await clusterMetricsText()) ?? (await this.registry.metrics());
    // prom-client writes a NaN sample (the event-loop lag mean before any sample) as "Nan"; the
    // exposition format spells it "NaN".
    return text.replace(/ Nan$/gm, ' NaN');
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    this.registry.clear();
  }

  private operationLabel(name: string | null): string {
    if (name === null) return '(anonymous)';
    if (this.operations.has(name)) return name;
    if (this.operations.size >= MAX_OPERATIONS || !/^[_A-Za-z][_0-9A-Za-z]{0,99}$/.test(name)) return '(other)';
    this.operations.add(name);
    return name;
  }
}
