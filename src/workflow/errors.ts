/**
 * The workflow engine's errors. Each has a stable `code`, a `name`, a default message and an `isX(e)`
 * guard that tests `code` (so it works across realms). They carry `extensions` like the engine's other
 * errors, so one that reaches a client shows `extensions.code` and nothing internal. A wrong workflow
 * definition is a `ConfigurationError` (src/errors.ts): it is raised at start-up, never per request.
 */

export type WorkflowErrorCode =
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'WORKFLOW_IN_DOUBT'
  | 'WORKFLOW_LEASE_LOST'
  | 'WORKFLOW_NOT_FOUND'
  | 'WORKFLOW_WAIT_TIMEOUT'
  | 'WORKFLOW_RUNNER_CLOSED';

export class WorkflowError extends Error {
  readonly code: WorkflowErrorCode;
  readonly extensions: Record<string, unknown>;
  constructor(code: WorkflowErrorCode, message: string, extensions: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.name = 'WorkflowError';
    this.extensions = extensions;
  }
}

/** The client's idempotency key already names an instance started with another input (or another workflow). */
export class IdempotencyKeyReusedError extends WorkflowError {
  constructor() {
    super('IDEMPOTENCY_KEY_REUSED', 'This idempotency key was already used with a different input.');
    this.name = 'IdempotencyKeyReusedError';
  }
}

/**
 * The instance could not be finished now: a step's outcome stays unknown after every re-drive, or a
 * compensation keeps failing. Nothing is lost: the instance stays in the log and the recovery loop
 * drives it later; asking again with the same idempotency key answers its outcome once it is known.
 */
export class WorkflowInDoubtError extends WorkflowError {
  readonly instanceId: string;
  constructor(instanceId: string, cause?: unknown) {
    super('WORKFLOW_IN_DOUBT', 'The operation has not finished yet; it will be completed or undone shortly.', {}, cause);
    this.name = 'WorkflowInDoubtError';
    this.instanceId = instanceId;
  }
}

/** Internal: another process claimed the instance (this one's lease expired); this process stops driving it. */
export class WorkflowLeaseLostError extends WorkflowError {
  constructor(instanceId: string) {
    super('WORKFLOW_LEASE_LOST', `Workflow instance ${instanceId} is now owned by another process.`);
    this.name = 'WorkflowLeaseLostError';
  }
}

/** `run` named a workflow the runner was not given. */
export class WorkflowNotFoundError extends WorkflowError {
  constructor(name: string) {
    super('WORKFLOW_NOT_FOUND', `No workflow named ${JSON.stringify(name)} is registered with this runner.`);
    this.name = 'WorkflowNotFoundError';
  }
}

/** A caller waited for an instance another caller (or process) is running, longer than it agreed to. */
export class WorkflowWaitTimeoutError extends WorkflowError {
  readonly instanceId: string;
  constructor(instanceId: string) {
    super('WORKFLOW_WAIT_TIMEOUT', 'The operation with this idempotency key is still running; ask again later.');
    this.name = 'WorkflowWaitTimeoutError';
    this.instanceId = instanceId;
  }
}

/** The runner was closed (the process is stopping); instances it held are recovered by the next owner. */
export class WorkflowRunnerClosedError extends WorkflowError {
  constructor() {
    super('WORKFLOW_RUNNER_CLOSED', 'The workflow runner is stopping.');
    this.name = 'WorkflowRunnerClosedError';
  }
}

const hasCode = (e: unknown, code: WorkflowErrorCode): boolean =>
  e instanceof Error && (e as { code?: unknown }).code === code;

const CODES: ReadonlySet<string> = new Set<WorkflowErrorCode>([
  'IDEMPOTENCY_KEY_REUSED',
  'WORKFLOW_IN_DOUBT',
  'WORKFLOW_LEASE_LOST',
  'WORKFLOW_NOT_FOUND',
  'WORKFLOW_WAIT_TIMEOUT',
  'WORKFLOW_RUNNER_CLOSED',
]);

export const isWorkflowError = (e: unknown): e is WorkflowError =>
  e instanceof Error && CODES.has(String((e as { code?: unknown }).code));
export const isIdempotencyKeyReused = (e: unknown): e is IdempotencyKeyReusedError => hasCode(e, 'IDEMPOTENCY_KEY_REUSED');
export const isWorkflowInDoubt = (e: unknown): e is WorkflowInDoubtError => hasCode(e, 'WORKFLOW_IN_DOUBT');
export const isWorkflowLeaseLost = (e: unknown): e is WorkflowLeaseLostError => hasCode(e, 'WORKFLOW_LEASE_LOST');
export const isWorkflowNotFound = (e: unknown): e is WorkflowNotFoundError => hasCode(e, 'WORKFLOW_NOT_FOUND');
export const isWorkflowWaitTimeout = (e: unknown): e is WorkflowWaitTimeoutError => hasCode(e, 'WORKFLOW_WAIT_TIMEOUT');
export const isWorkflowRunnerClosed = (e: unknown): e is WorkflowRunnerClosedError => hasCode(e, 'WORKFLOW_RUNNER_CLOSED');
