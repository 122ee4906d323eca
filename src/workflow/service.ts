/**
 * The workflow engine inside the gateway: the runner over the configured log, its calls made through
 * the connector (each step is a write call with the step's idempotency key, under the upstream's
 * policies), and a per-request handle resolvers use to run a workflow.
 *
 * A workflow's calls do not run under the request's deadline or signal: a client that goes away
 * stops waiting, not the workflow (it must finish or be undone either way). While a request waits for
 * its workflow, the calls' attempts are added to the request's own scope, so its trace and waterfall
 * show every step, retry and compensation (with the idempotency key's hash, never the key).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { Cancel, type Connector, type RequestScope } from '../connector/index.js';
import type { WorkflowDef } from './define.js';
import type { Invoke } from './drive.js';
import { countStoreCalls, type LogOperation } from './counted-store.js';
import { openWorkflowStore } from './open-store.js';
import type { WorkflowStore } from './store.js';
import type { Outcome } from './outcome.js';
import { redisKeyClaims, type KeyClaims } from './redis-claims.js';
import { createWorkflowRunner, RUNNER_DEFAULTS, type RunOptions, type WorkflowRunner } from './runner.js';

/** Every default of the service, with units. */
export const WORKFLOW_SERVICE_DEFAULTS = {
  callDeadlineMs: 30_000, // per step call, retries included: a write is given longer than a read
  directory: '.tributary', // the embedded log's directory, relative to the working directory
} as const;

export interface WorkflowServiceOptions {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly workflows: readonly WorkflowDef<any, any>[];
  readonly connector: Connector;
  /** `DATABASE_URL`: the log on PostgreSQL (shared by replicas). Unset: the embedded SQLite file. */
  readonly databaseUrl?: string | undefined;
  /** `WORKFLOW_DIR`: the embedded log's directory. */
  readonly directory?: string | undefined;
  /** `WORKFLOW_TABLE_PREFIX`: the log's table name prefix (default `tributary_`). */
  readonly tablePrefix?: string | undefined;
  /** A log opened by the caller (benchmarks, embedders): used instead of `databaseUrl` / `directory`, closed with the service. */
  readonly store?: WorkflowStore;
  /** `REDIS_URL` with the embedded log: client keys claimed in Redis, so replicas never both run one. */
  readonly redisUrl?: string | undefined;
  /** Runner options (tests: short leases, a fake clock). */
  readonly runner?: Partial<Pick<Parameters<typeof createWorkflowRunner>[0], 'leaseMs' | 'renewEveryMs' | 'recoverEveryMs' | 'owner' | 'now' | 'redrive' | 'inDoubtRetryMs'>>;
}

/** What a resolver gets: runs a workflow for the request's user, traced in the request. */
export interface RequestWorkflows {
  run(workflow: string, options: Omit<RunOptions, 'userId' | 'trace' | 'signal'>): Promise<Outcome>;
}

export interface WorkflowService {
  readonly runner: WorkflowRunner;
  /** The log's kind, for the start-up line and the admin route. */
  readonly store: WorkflowStore['kind'];
  /** The log's calls so far, by operation (`tributary_workflow_log_calls_total`). */
  logCalls(): Readonly<Partial<Record<LogOperation, number>>>;
  forRequest(scope: RequestScope, signal?: AbortSignal): RequestWorkflows;
  close(): Promise<void>;
}

/**
 * Whether a failed call was definitely not applied. A call carries its idempotency key through the
 * upstream's retries, so when the upstream still answers an error status after them (a 402, a 409,
 * a 500 every time), the effect did not happen: an upstream that had applied it would have answered
 * the retry with the first (successful) answer. No answer at all (a timeout, a reset, an open breaker
 * in the middle of a call) may have been applied: the engine re-drives it with the same key.
 */
function answeredFailure(error: unknown, context: { readonly afterLostAnswer: boolean }): boolean {
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status !== 'number' || status < 400 || status === 408 || status === 429) return false;
  // After a send that got no answer (here, among this call's retries, or in an earlier call of the step),
  // that send may have been applied: a 5xx (a proxy's 503, an overloaded front) proves nothing then, and
  // the step is sent again with its key until the upstream itself answers what it did.
  if (status >= 500 && (context.afterLostAnswer || lostAnswer.has(error as object))) return false;
  return true;
}

/** Failures of calls one of whose attempts (the connector's retries) got no answer: a reset, a timeout. */
const lostAnswer = new WeakSet<object>();

/** The scope of the request a workflow runs for, while that request waits for it. */
const requestScope = new AsyncLocalStorage<RequestScope>();

class RequestHandle implements RequestWorkflows {
  constructor(
    private readonly runner: WorkflowRunner,
    private readonly scope: RequestScope,
    private readonly signal: AbortSignal | undefined,
  ) {}

  run(workflow: string, options: Omit<RunOptions, 'userId' | 'trace' | 'signal'>): Promise<Outcome> {
    const user = this.scope.user;
    return requestScope.run(this.scope, () =>
      this.runner.run(workflow, { ...options, ...(user ? { userId: user.id } : {}), trace: this.scope, ...(this.signal ? { signal: this.signal } : {}) }),
    );
  }
}

/**
 * Opens the log, starts the runner (which recovers what a previous life left unfinished) and answers
 * the service.
 *
 * @example
 * const workflows = await createWorkflowService({ workflows: [placeOrder], connector, databaseUrl: env.DATABASE_URL });
 * extendContext: (scope) => ({ workflows: workflows.forRequest(scope) })
 */
export async function createWorkflowService(opts: WorkflowServiceOptions): Promise<WorkflowService> {
  const counted = countStoreCalls(
    opts.store ??
      (await openWorkflowStore({
        databaseUrl: opts.databaseUrl,
        directory: opts.directory ?? WORKFLOW_SERVICE_DEFAULTS.directory,
        ...(opts.tablePrefix ? { prefix: opts.tablePrefix } : {}),
      })),
  );
  const store = counted.store;
  let claims: KeyClaims | undefined;
  let redis: { close(): Promise<void> } | undefined;
  if (opts.redisUrl && !opts.databaseUrl) {
    const { redisClient } = await import('../redis.js');
    // Not awaited: while Redis is away, a claim fails at once (no offline queue) and the write is
    // refused as not finished yet (WORKFLOW_IN_DOUBT), never run twice; reads are not held up.
    const r = redisClient(opts.redisUrl);
    // Closed at once: a QUIT to a slow or unreachable Redis would hold the gateway's stop.
    redis = {
      close: async () => {
        try {
          r.client.destroy();
        } catch {
          // already closed
        }
      },
    };
    claims = redisKeyClaims(r.client, { retentionMs: RUNNER_DEFAULTS.retentionMs });
  }
  const { connector } = opts;
  const invoke: Invoke = async (upstream, endpoint, input, { idempotencyKey, signal }) => {
    const waiting = requestScope.getStore();
    // The runner's signal lives as long as the runner: the call follows it only while it runs (a
    // listener left on it by every call would be kept for the process's life).
    const cancel = new Cancel();
    const stop = () => cancel.abort();
    if (signal.aborted) cancel.abort();
    else signal.addEventListener('abort', stop, { once: true });
    const scope = connector.scope({
      requestId: waiting?.requestId ?? `workflow-${randomUUID()}`,
      user: null,
      deadline: performance.now() + WORKFLOW_SERVICE_DEFAULTS.callDeadlineMs,
      signal: cancel,
      ...(waiting?.propagate ? { propagate: waiting.propagate } : {}),
      ...(waiting?.trace ? { trace: waiting.trace } : {}),
    });
    try {
      return await connector.write(connector.endpoint(upstream, endpoint), input, scope, idempotencyKey === undefined ? undefined : { idempotencyKey });
    } catch (e) {
      if (typeof e === 'object' && e !== null && scope.attempts.some((a) => a.status === 0)) lostAnswer.add(e);
      throw e;
    } finally {
      signal.removeEventListener('abort', stop);
      // The request that waits shows the call in its trace (attempts, retries, the key's hash).
      if (waiting) waiting.attempts.push(...scope.attempts);
    }
  };
  const runner = createWorkflowRunner({ workflows: opts.workflows, store, invoke, isDefinite: answeredFailure, ...(claims ? { claims } : {}), ...opts.runner });
  await runner.start();
  return {
    runner,
    store: store.kind,
    logCalls: counted.calls,
    forRequest: (scope, signal) => new RequestHandle(runner, scope, signal),
    async close() {
      await runner.close();
      await store.close();
      await redis?.close();
    },
  };
}
