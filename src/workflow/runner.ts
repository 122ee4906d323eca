/**
 * The workflow runner: starts instances for clients (one per `(userId, clientKey)`), drives them with
 * `driveInstance`, holds a renewed lease on each instance it drives, and runs a recovery loop (at start,
 * then periodically) that claims instances whose lease passed (their process died, or handed them back in
 * doubt) and drives each to its outcome.
 *
 * Design: steps declare what they call (`{ upstream, endpoint }`) and the runner makes the call through
 * one `invoke` function given by the composition root, instead of each step carrying a `run` closure.
 * The engine thus owns the idempotency key, the abort signal and the log around every call, and what a
 * workflow writes to stays plain data the perimeter map can list.
 */
import { randomUUID } from 'node:crypto';
import { ConfigurationError } from '../errors.js';
import type { WorkflowDef } from './define.js';
import { driveInstance, type Invoke } from './drive.js';
import {
  IdempotencyKeyReusedError,
  WorkflowInDoubtError,
  WorkflowNotFoundError,
  WorkflowRunnerClosedError,
  WorkflowWaitTimeoutError,
  isWorkflowError,
  isWorkflowInDoubt,
  isWorkflowLeaseLost,
} from './errors.js';
import { WorkflowTelemetry, type WorkflowEvents } from './events.js';
import { inputHash } from './keys.js';
import type { Outcome } from './outcome.js';
import type { KeyClaims } from './redis-claims.js';
import { ACTIVE, type InstanceRow, type InstanceStatus, type StepRow, type WorkflowStore } from './store.js';

export interface WorkflowRunnerOptions {
  /** Definitions from `defineWorkflow` (any input type: each instance's input comes back from the log as stored). */
  readonly workflows: readonly WorkflowDef<never, unknown>[];
  readonly store: WorkflowStore;
  readonly invoke: Invoke;
  /**
   * This process's owner id. Default: a random one. A replica restarted with the same id takes back the
   * instances its previous life held at once, instead of waiting for their leases to pass.
   */
  readonly owner?: string;
  readonly leaseMs?: number;
  readonly renewEveryMs?: number;
  readonly recoverEveryMs?: number;
  readonly redrive?: { readonly attempts?: number; readonly baseDelayMs?: number; readonly maxDelayMs?: number };
  readonly inDoubtRetryMs?: number;
  readonly waitPollMs?: number;
  readonly waitTimeoutMs?: number;
  /** How long finished instances (and so client keys) are kept. At least 24 h. */
  readonly retentionMs?: number;
  /**
   * True when a failure means "definitely not applied". Default: an HTTP status 4xx other than 408 and 429.
   * `afterLostAnswer`: an earlier send of the same key may have been applied (no answer came back).
   */
  readonly isDefinite?: (error: unknown, context: { readonly afterLostAnswer: boolean }) => boolean;
  /** Claims of client keys shared by replicas whose logs are separate (embedded log + Redis). */
  readonly claims?: KeyClaims;
  /** Time source (ms since the epoch); tests pass a fake one. */
  readonly now?: () => number;
}

const DAY_MS = 24 * 60 * 60 * 1_000;

/** Every default of the runner, with units. Change a default here and nowhere else. */
export const RUNNER_DEFAULTS = {
  leaseMs: 15_000, // an instance whose owner stopped renewing is claimable this long after the last renewal
  renewEveryMs: 5_000, // a third of the lease: two renewals may fail before the lease passes
  recoverEveryMs: 5_000, // how often the recovery loop looks for claimable instances
  redrive: {
    attempts: 4, // calls per step (or compensation) in one drive, including the first
    baseDelayMs: 50, // first backoff ceiling; full jitter picks in [0, ceiling)
    maxDelayMs: 1_000,
  },
  inDoubtRetryMs: 5_000, // an instance handed back in doubt is claimable again after this
  waitPollMs: 50, // a caller waiting for an instance driven elsewhere reads the log this often
  waitTimeoutMs: 30_000, // ...and gives up (WORKFLOW_WAIT_TIMEOUT) after this
  retentionMs: DAY_MS, // finished instances and client keys kept this long
  claimBatch: 20, // instances claimed per recovery pass
} as const;

export function defaultIsDefinite(error: unknown): boolean {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

export interface RunOptions {
  readonly input: unknown;
  /** The signed-in user; client keys are scoped to it. */
  readonly userId?: string;
  /** The client's idempotency key: one instance per `(userId, clientKey)`. Without one, every run is new. */
  readonly clientKey?: string;
  /** Passed through to every event of this run (a request's span, say). */
  readonly trace?: unknown;
  /**
   * Builds the instance's input when the client key is new (a priced cart, say): `input` then only
   * identifies the request (the client key is bound to its hash), and a request sent again answers
   * its first outcome without preparing anything. Without it the instance's input is `input`.
   */
  readonly prepare?: () => Promise<unknown>;
  /** Stops waiting (not the instance, which goes on) when the caller goes away. */
  readonly signal?: AbortSignal;
}

export type ListView = 'in-flight' | 'stuck' | 'compensated' | 'completed' | 'all';

export interface WorkflowRunner {
  /** Validates, creates the log's tables, takes back this owner's instances, starts the timers. */
  start(): Promise<void>;
  /** Runs (or answers, or waits for) the instance of this client key; resolves only with a final outcome. */
  run(workflow: string, options: RunOptions): Promise<Outcome>;
  on<K extends keyof WorkflowEvents>(name: K, fn: (event: WorkflowEvents[K]) => void): () => void;
  /** One recovery pass now; answers how many instances it claimed. */
  recover(): Promise<number>;
  /** For the admin route: instances in flight, stuck (lease passed or in doubt), compensated, completed. */
  list(view: ListView, options?: { workflow?: string; limit?: number }): Promise<InstanceRow[]>;
  /** One instance with its step log, for the admin route. */
  inspect(id: string): Promise<{ instance: InstanceRow; steps: StepRow[] } | undefined>;
  /**
   * Stops timers and drives, waits for them to stop, and hands their instances back (claimable at once by
   * another runner). Does not close the store.
   */
  close(): Promise<void>;
  readonly owner: string;
}

function positive(where: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new ConfigurationError(`Workflow runner option ${where} must be a number >= ${min}, but received: ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Creates a runner over a store. Call `start()` before `run`.
 *
 * @example
 * const runner = createWorkflowRunner({
 *   workflows: [placeOrder],
 *   store: await openWorkflowStore({ databaseUrl: process.env.DATABASE_URL, directory: 'data/workflows' }),
 *   invoke: (upstream, endpoint, input, { idempotencyKey, signal }) => client[upstream][endpoint].call(input, { idempotencyKey, signal }),
 * });
 * await runner.start();
 * const outcome = await runner.run('placeOrder', { input, userId, clientKey: input.idempotencyKey });
 */
export function createWorkflowRunner(options: WorkflowRunnerOptions): WorkflowRunner {
  const d = RUNNER_DEFAULTS;
  const leaseMs = positive('leaseMs', options.leaseMs ?? d.leaseMs);
  const renewEveryMs = positive('renewEveryMs', options.renewEveryMs ?? Math.min(d.renewEveryMs, Math.floor(leaseMs / 3)));
  if (renewEveryMs >= leaseMs) throw new ConfigurationError(`Workflow runner option renewEveryMs must be below leaseMs (${leaseMs}), but received: ${renewEveryMs}`);
  const recoverEveryMs = positive('recoverEveryMs', options.recoverEveryMs ?? d.recoverEveryMs);
  const redrive = {
    attempts: positive('redrive.attempts', options.redrive?.attempts ?? d.redrive.attempts),
    baseDelayMs: positive('redrive.baseDelayMs', options.redrive?.baseDelayMs ?? d.redrive.baseDelayMs, 0),
    maxDelayMs: positive('redrive.maxDelayMs', options.redrive?.maxDelayMs ?? d.redrive.maxDelayMs, 0),
  };
  const inDoubtRetryMs = positive('inDoubtRetryMs', options.inDoubtRetryMs ?? d.inDoubtRetryMs, 0);
  const waitPollMs = positive('waitPollMs', options.waitPollMs ?? d.waitPollMs);
  const waitTimeoutMs = positive('waitTimeoutMs', options.waitTimeoutMs ?? d.waitTimeoutMs);
  const retentionMs = positive('retentionMs (client keys are kept at least 24 h)', options.retentionMs ?? d.retentionMs, DAY_MS);
  const now = options.now ?? Date.now;
  const owner = options.owner ?? `runner-${randomUUID()}`;
  const { store, claims } = options;

  const workflows = new Map<string, WorkflowDef>();
  for (const w of options.workflows) {
    if (!w || typeof w !== 'object' || !Array.isArray(w.groups)) {
      throw new ConfigurationError(`Workflow runner option workflows must hold definitions made by defineWorkflow, but received: ${JSON.stringify(w)}`);
    }
    if (workflows.has(w.name)) throw new ConfigurationError(`Workflow runner option workflows must have unique names, but received ${JSON.stringify(w.name)} twice`);
    workflows.set(w.name, w as unknown as WorkflowDef);
  }
  if (typeof options.invoke !== 'function') throw new ConfigurationError('Workflow runner option invoke must be a function (upstream, endpoint, input, { idempotencyKey, signal }) => Promise<output>, but received: ' + typeof options.invoke);

  const events = new WorkflowTelemetry();
  const closing = new AbortController();
  const driving = new Map<string, Promise<Outcome>>();
  const timers: NodeJS.Timeout[] = [];

  const sleep = (ms: number) =>
    new Promise<void>((resolve, reject) => {
      if (closing.signal.aborted) return reject(new WorkflowRunnerClosedError());
      const t = setTimeout(() => {
        closing.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(new WorkflowRunnerClosedError());
      };
      closing.signal.addEventListener('abort', onAbort, { once: true });
    });

  const deps = {
    store,
    owner,
    invoke: options.invoke,
    events,
    now,
    sleep,
    signal: closing.signal,
    isDefinite: options.isDefinite ?? defaultIsDefinite,
    redrive,
    inDoubtRetryMs,
  };

  /** Drives one instance this runner owns; the promise is shared by every local caller waiting for it. */
  function drive(row: InstanceRow, trace: unknown, recovered: boolean): Promise<Outcome> {
    const def = workflows.get(row.workflow);
    if (!def) return Promise.reject(new WorkflowNotFoundError(row.workflow));
    const p = driveInstance(def, row, deps, trace, recovered)
      .then(async (outcome) => {
        if (claims && row.clientKey !== null) await claims.publish(row.userId, row.clientKey, { instanceId: row.id, hash: row.inputHash, outcome }).catch(() => {});
        return outcome;
      })
      .catch(async (e: unknown) => {
        if (isWorkflowLeaseLost(e)) events.emit('leaseLost', { workflow: row.workflow, instanceId: row.id, trace });
        if (isWorkflowError(e)) throw e;
        // Anything else (the store unreachable, a step's input builder throwing) stops this drive with
        // the log intact: hand the instance back (best effort; else its lease lapses, no longer renewed)
        // and answer "not finished yet". The recovery loop tries again; the admin listing shows it stuck.
        const reason = `drive stopped: ${String((e as Error)?.message ?? e).slice(0, 200)}`;
        await store.update(row.id, owner, { owner: null, leaseUntil: now() + inDoubtRetryMs, lastError: reason }, now()).catch(() => {});
        events.emit('inDoubt', { workflow: row.workflow, instanceId: row.id, trace, reason });
        throw new WorkflowInDoubtError(row.id, e);
      })
      .finally(() => driving.delete(row.id));
    driving.set(row.id, p);
    return p;
  }

  const terminal = (status: InstanceStatus) => !ACTIVE.includes(status);

  /** Waits for an instance driven elsewhere (another caller here, another process) to finish. */
  async function wait(id: string, signal: AbortSignal | undefined): Promise<Outcome> {
    const giveUp = now() + waitTimeoutMs;
    for (;;) {
      const local = driving.get(id);
      if (local) {
        try {
          return await local;
        } catch (e) {
          // In doubt here: every caller waiting for it hears so now. Lease lost: the outcome comes from the log.
          if (isWorkflowInDoubt(e)) throw e;
        }
      }
      const row = await store.get(id);
      if (row && terminal(row.status)) return row.outcome!;
      if (now() > giveUp || signal?.aborted) throw new WorkflowWaitTimeoutError(id);
      await sleep(waitPollMs);
    }
  }

  /** Waits for an outcome published in the shared claims by the replica that holds the key. */
  async function waitClaim(userId: string, clientKey: string, id: string, signal: AbortSignal | undefined): Promise<Outcome> {
    const giveUp = now() + waitTimeoutMs;
    for (;;) {
      const c = await claims!.get(userId, clientKey);
      if (c?.outcome) return c.outcome;
      if (now() > giveUp || signal?.aborted) throw new WorkflowWaitTimeoutError(id);
      await sleep(waitPollMs);
    }
  }

  let started = false;

  async function run(name: string, o: RunOptions): Promise<Outcome> {
    if (closing.signal.aborted) throw new WorkflowRunnerClosedError();
    if (!started) throw new ConfigurationError('A workflow runner must be started (await runner.start()) before run(), which needs the log\'s tables and this owner\'s past instances recovered');
    const def = workflows.get(name);
    if (!def) throw new WorkflowNotFoundError(name);
    const hash = inputHash(name, o.input);
    const userId = o.userId ?? '';
    const clientKey = o.clientKey ?? null;
    if (o.prepare && clientKey !== null) {
      // Sent before: answer (or wait for) it without preparing a new input.
      const known = await store.byClientKey(userId, clientKey);
      if (known) {
        if (known.inputHash !== hash) throw new IdempotencyKeyReusedError();
        return terminal(known.status) ? known.outcome! : wait(known.id, o.signal);
      }
      if (claims) {
        const c = await claims.get(userId, clientKey);
        if (c && c.hash !== hash) throw new IdempotencyKeyReusedError();
        if (c?.outcome) return c.outcome;
      }
    }
    const instanceInput = o.prepare ? await o.prepare() : o.input;
    let id: string = randomUUID();
    if (claims && clientKey !== null) {
      const c = await claims.claim(userId, clientKey, { instanceId: id, hash });
      if (!c.claimed) {
        if (c.hash !== hash) throw new IdempotencyKeyReusedError();
        if (c.outcome) return c.outcome;
        // Held here (this replica's log has it) or on another replica (only its published outcome is seen).
        if (!(await store.get(c.instanceId))) return waitClaim(userId, clientKey, c.instanceId, o.signal);
        id = c.instanceId;
      }
    }
    const t = now();
    const { created, row } = await store.create({ id, workflow: name, userId, clientKey, inputHash: hash, input: instanceInput ?? null, owner, leaseUntil: t + leaseMs, now: t });
    if (!created) {
      if (row.inputHash !== hash) throw new IdempotencyKeyReusedError();
      if (terminal(row.status)) return row.outcome!;
      return wait(row.id, o.signal);
    }
    try {
      return await drive(row, o.trace, false);
    } catch (e) {
      if (isWorkflowLeaseLost(e)) return wait(row.id, o.signal);
      throw e;
    }
  }

  async function claimAndDrive(adopt: boolean): Promise<number> {
    if (closing.signal.aborted) return 0;
    const t = now();
    const rows = await store.claimExpired(owner, t + leaseMs, t, d.claimBatch, adopt);
    for (const row of rows) {
      if (driving.has(row.id)) continue;
      // The outcome (or in doubt, or closed) is recorded in the log; nobody awaits this drive here.
      drive(row, undefined, true).catch(() => {});
    }
    return rows.length;
  }

  async function tick(fn: () => Promise<unknown>) {
    try {
      await fn();
    } catch {
      // The store was unreachable: the next tick tries again; leases protect what is in flight.
    }
  }

  return {
    owner,
    on: (name, fn) => events.on(name, fn),
    async start() {
      await store.init();
      started = true;
      await claimAndDrive(true);
      timers.push(
        setInterval(() => void tick(() => store.renew(owner, [...driving.keys()], now() + leaseMs)), renewEveryMs),
        setInterval(() => void tick(() => claimAndDrive(false)), recoverEveryMs),
        setInterval(() => void tick(() => store.purge(now() - retentionMs)), Math.max(recoverEveryMs, 60_000)),
      );
      for (const t of timers) t.unref();
    },
    run,
    recover: () => claimAndDrive(false),
    async list(view, o = {}) {
      const base = { ...(o.workflow ? { workflow: o.workflow } : {}), limit: o.limit ?? 100 };
      switch (view) {
        case 'in-flight':
          return store.list({ ...base, statuses: ACTIVE });
        case 'stuck':
          return store.list({ ...base, stuckAt: now() });
        case 'compensated':
          return store.list({ ...base, statuses: ['refused', 'failed'] });
        case 'completed':
          return store.list({ ...base, statuses: ['completed'] });
        default:
          return store.list(base);
      }
    },
    async inspect(id) {
      const instance = await store.get(id);
      return instance && { instance, steps: await store.steps(id) };
    },
    async close() {
      for (const t of timers) clearInterval(t);
      closing.abort();
      const held = [...driving.keys()];
      await Promise.allSettled([...driving.values()]);
      // Hand the instances back now, so another replica need not wait for the leases to pass. Their
      // calls in flight were cut short and stay `started` in the log: the next owner re-drives them.
      await Promise.allSettled(held.map((id) => store.update(id, owner, { owner: null, leaseUntil: now() }, now())));
    },
  };
}
