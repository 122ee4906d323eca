/** The workflow engine: declared multi-step writes, run exactly once with compensation. No domain here. */
export { defineWorkflow, type CallTarget, type StepContext, type CompensationContext, type Refusal, type WorkflowDef, type StepDef, type WorkflowInput } from './define.js';
export { createWorkflowRunner, defaultIsDefinite, RUNNER_DEFAULTS, type WorkflowRunner, type WorkflowRunnerOptions, type RunOptions, type ListView } from './runner.js';
export type { Invoke } from './drive.js';
export type { Outcome, OutcomeStatus } from './outcome.js';
export type { WorkflowEvents } from './events.js';
export type { WorkflowStore, InstanceRow, StepRow, InstanceStatus } from './store.js';
export { openWorkflowStore, type OpenStoreOptions } from './open-store.js';
export { sqliteWorkflowStore } from './store-sqlite.js';
export { postgresWorkflowStore, dropPostgresWorkflowTables } from './store-postgres.js';
export { redisKeyClaims, IdempotencyUnavailableError, type KeyClaims } from './redis-claims.js';
export { inputHash, keyHash, stepKey } from './keys.js';
export * from './errors.js';
export { createWorkflowService, WORKFLOW_SERVICE_DEFAULTS, type WorkflowService, type WorkflowServiceOptions, type RequestWorkflows } from './service.js';
export { workflowMetrics } from './metrics.js';
