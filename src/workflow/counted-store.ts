/**
 * The log's calls, counted per operation: each is one round trip to PostgreSQL (one statement, or one
 * transaction for `init`), or one synchronous SQLite transaction. The metrics expose them
 * (`tributary_workflow_log_calls_total`), so the log's cost per workflow is read off /metrics.
 */
import type { WorkflowStore } from './store.js';

const COUNTED = ['init', 'create', 'get', 'byClientKey', 'steps', 'record', 'update', 'renew', 'claimExpired', 'list', 'purge'] as const;
export type LogOperation = (typeof COUNTED)[number];

export interface CountedStore {
  readonly store: WorkflowStore;
  /** Calls made so far, by operation (only operations called at least once). */
  calls(): Readonly<Partial<Record<LogOperation, number>>>;
}

/**
 * @example
 * const { store, calls } = countStoreCalls(await openWorkflowStore(...));
 */
export function countStoreCalls(inner: WorkflowStore): CountedStore {
  const counts: Partial<Record<LogOperation, number>> = {};
  const store = { ...inner } as Record<string, unknown>;
  for (const op of COUNTED) {
    const fn = inner[op] as (...args: unknown[]) => Promise<unknown>;
    store[op] = (...args: unknown[]) => {
      counts[op] = (counts[op] ?? 0) + 1;
      return fn.apply(inner, args);
    };
  }
  return { store: store as unknown as WorkflowStore, calls: () => ({ ...counts }) };
}
