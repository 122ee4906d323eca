/**
 * The durable log of workflow instances: one interface, two stores (PostgreSQL when a database URL is
 * given, an embedded SQLite file otherwise). Every write made while driving an instance is fenced by its
 * owner: once another process claimed the instance (this one's lease expired), the write fails with
 * `WorkflowLeaseLostError` and this process stops driving it, so two processes never drive one instance.
 */
import { ConfigurationError } from '../errors.js';
import type { Outcome } from './outcome.js';

export type InstanceStatus = 'running' | 'compensating' | 'completed' | 'refused' | 'failed';
export const ACTIVE: readonly InstanceStatus[] = ['running', 'compensating'];

export interface InstanceRow {
  readonly id: string;
  readonly workflow: string;
  /** '' for an anonymous caller: client keys are scoped per user. */
  readonly userId: string;
  readonly clientKey: string | null;
  readonly inputHash: string;
  readonly input: unknown;
  readonly status: InstanceStatus;
  /** The final outcome once finished; while compensating, the outcome it will answer once undone. */
  readonly outcome: Outcome | null;
  readonly owner: string | null;
  /** ms since the epoch; an active instance whose lease passed may be claimed by any runner. */
  readonly leaseUntil: number;
  /** How many times a runner took the instance (1 for the run that created it). */
  readonly attempts: number;
  /** Why the last drive stopped without an outcome (in doubt), for the admin listing. */
  readonly lastError: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export type StepKind = 'forward' | 'compensate';
/** `started` is written before the call is sent: a crash after it means "maybe applied". */
export type StepState = 'started' | 'done' | 'refused' | 'failed' | 'unknown';

export interface StepRow {
  readonly step: string;
  readonly kind: StepKind;
  readonly state: StepState;
  /** The input sent (written with `started`): a re-drive sends exactly it again, even from newer code. */
  readonly input: unknown;
  readonly output: unknown;
  readonly error: unknown;
  /** Calls sent for this step (a re-drive counts one more). */
  readonly attempts: number;
  readonly updatedAt: number;
}

/** One write of a step's state; `input` only with `started` (later writes keep it). */
export interface StepWrite {
  readonly step: string;
  readonly kind: StepKind;
  readonly state: StepState;
  readonly input?: unknown;
  readonly output?: unknown;
  readonly error?: unknown;
}

export interface NewInstance {
  readonly id: string;
  readonly workflow: string;
  readonly userId: string;
  readonly clientKey: string | null;
  readonly inputHash: string;
  readonly input: unknown;
  readonly owner: string;
  readonly leaseUntil: number;
  readonly now: number;
}

export interface InstancePatch {
  readonly status?: InstanceStatus;
  readonly outcome?: Outcome | null;
  /** Set with `owner: null` to hand the instance back (in doubt): it is claimable once `leaseUntil` passes. */
  readonly owner?: null;
  readonly leaseUntil?: number;
  readonly lastError?: string | null;
}

export interface ListFilter {
  readonly statuses?: readonly InstanceStatus[];
  /** Only active instances whose lease passed, or that were handed back in doubt. */
  readonly stuckAt?: number;
  readonly workflow?: string;
  readonly limit?: number;
}

export interface WorkflowStore {
  /** `memory` only for stores given by an embedder (a benchmark's baseline): the gateway opens the other two. */
  readonly kind: 'postgres' | 'sqlite' | 'memory';
  /** Creates the tables when missing. Idempotent; safe to call from several processes at once. */
  init(): Promise<void>;
  /** Inserts the instance, or answers the one already holding `(userId, clientKey)`. */
  create(row: NewInstance): Promise<{ created: boolean; row: InstanceRow }>;
  get(id: string): Promise<InstanceRow | undefined>;
  /** The instance holding a client key, if any. */
  byClientKey(userId: string, clientKey: string): Promise<InstanceRow | undefined>;
  steps(id: string): Promise<StepRow[]>;
  /**
   * Fenced: writes steps' states (a `started` write counts one more attempt), and with `patch` changes
   * the instance too, in one transaction (one round trip): a step's `done` travels with the next write.
   */
  record(id: string, owner: string, steps: readonly StepWrite[], now: number, patch?: InstancePatch): Promise<void>;
  /** Fenced: changes the instance. */
  update(id: string, owner: string, patch: InstancePatch, now: number): Promise<void>;
  /**
   * Extends the leases of these instances while `owner` holds them; answers how many. Only instances a
   * drive is running for are renewed: one whose drive stopped (store error, bug) lapses and is recovered.
   */
  renew(owner: string, ids: readonly string[], leaseUntil: number): Promise<number>;
  /**
   * Atomically takes up to `limit` active instances whose lease passed; with `adopt`, also those `owner`
   * itself holds (a restarted process taking back what its previous life held).
   */
  claimExpired(owner: string, leaseUntil: number, now: number, limit: number, adopt?: boolean): Promise<InstanceRow[]>;
  list(filter: ListFilter): Promise<InstanceRow[]>;
  /** Deletes finished instances created before `before` (ms since the epoch); answers how many. */
  purge(before: number): Promise<number>;
  close(): Promise<void>;
}

const PREFIX = /^[a-z_][a-z0-9_]{0,40}$/;

/** Checks a table prefix (it is written into SQL, so only plain identifiers). */
export function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new ConfigurationError(`The workflow log's table prefix must match ${PREFIX}, but received: ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

/** The tables' columns, shared by both stores (JSON kept as text so both read it alike). */
export interface RawInstance {
  id: string;
  workflow: string;
  user_id: string;
  client_key: string | null;
  input_hash: string;
  input: string;
  status: string;
  outcome: string | null;
  owner: string | null;
  lease_until: number | string;
  attempts: number;
  last_error: string | null;
  created_at: number | string;
  updated_at: number | string;
}

export interface RawStep {
  step: string;
  kind: string;
  state: string;
  input: string | null;
  output: string | null;
  error: string | null;
  attempts: number;
  updated_at: number | string;
}

/** Internal: a row as stored → a row as used (BIGINT comes back from pg as a string). */
export function toInstance(r: RawInstance): InstanceRow {
  return {
    id: r.id,
    workflow: r.workflow,
    userId: r.user_id,
    clientKey: r.client_key,
    inputHash: r.input_hash,
    input: JSON.parse(r.input),
    status: r.status as InstanceStatus,
    outcome: r.outcome === null ? null : (JSON.parse(r.outcome) as Outcome),
    owner: r.owner,
    leaseUntil: Number(r.lease_until),
    attempts: Number(r.attempts),
    lastError: r.last_error,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export function toStep(r: RawStep): StepRow {
  return {
    step: r.step,
    kind: r.kind as StepKind,
    state: r.state as StepState,
    input: r.input === null ? undefined : JSON.parse(r.input),
    output: r.output === null ? undefined : JSON.parse(r.output),
    error: r.error === null ? undefined : JSON.parse(r.error),
    attempts: Number(r.attempts),
    updatedAt: Number(r.updated_at),
  };
}

/** Internal: the patch as column assignments, in a fixed order (both stores build their SQL from it). */
export function patchColumns(patch: InstancePatch): [column: string, value: unknown][] {
  const out: [string, unknown][] = [];
  if (patch.status !== undefined) out.push(['status', patch.status]);
  if (patch.outcome !== undefined) out.push(['outcome', patch.outcome === null ? null : JSON.stringify(patch.outcome)]);
  if (patch.owner !== undefined) out.push(['owner', null]);
  if (patch.leaseUntil !== undefined) out.push(['lease_until', patch.leaseUntil]);
  if (patch.lastError !== undefined) out.push(['last_error', patch.lastError]);
  return out;
}
