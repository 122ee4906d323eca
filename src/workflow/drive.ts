/**
 * Internal: drives one instance to its outcome, from wherever its log says it is. The log is written
 * before each side-effecting call (`started`: maybe applied from here on) and after each result, so a
 * drive can stop at any point (crash, lease lost, in doubt) and another drive resumes from the log:
 *
 * - forward: groups in order (the steps of a group at once); a step already `done` is not called again,
 *   a `started`/`unknown` one is re-driven with the same idempotency key (the upstream answers the first
 *   answer, or applies it now if it never arrived), so no effect is ever applied twice;
 * - a step refused or failed for good, before the point of no return → compensate; after it → in doubt
 *   (the recovery loop keeps driving it forward; nothing past the pivot is undone);
 * - compensate: side-effect steps in reverse order; a maybe-applied one is first re-driven to learn its
 *   output (what to undo), then its compensation is sent with `<instance>:<step>:compensate`.
 */
import type { CallTarget, StepDef, WorkflowDef } from './define.js';
import { isWorkflowLeaseLost, WorkflowInDoubtError, WorkflowRunnerClosedError } from './errors.js';
import type { WorkflowTelemetry } from './events.js';
import { keyHash, stepKey } from './keys.js';
import type { Outcome } from './outcome.js';
import type { InstancePatch, InstanceRow, StepKind, StepRow, StepState, StepWrite, WorkflowStore } from './store.js';

/** How a step's call is made: supplied by the composition root (the connector's write call). */
export type Invoke = (
  upstream: string,
  endpoint: string,
  input: unknown,
  options: { readonly idempotencyKey: string | undefined; readonly signal: AbortSignal },
) => Promise<unknown>;

export interface DriveDeps {
  readonly store: WorkflowStore;
  readonly owner: string;
  readonly invoke: Invoke;
  readonly events: WorkflowTelemetry;
  readonly now: () => number;
  /** Resolves after `ms`, or rejects with WorkflowRunnerClosedError when the runner closes. */
  readonly sleep: (ms: number) => Promise<void>;
  readonly signal: AbortSignal;
  /**
   * True: the failure means the call was definitely not applied (a 4xx); false: maybe applied.
   * `afterLostAnswer`: an earlier send of the same key got no answer (or the process died while it was
   * out), so it may have been applied, and only the upstream's own refusal (not a 5xx a proxy may send) is definite.
   */
  readonly isDefinite: (error: unknown, context: { readonly afterLostAnswer: boolean }) => boolean;
  readonly redrive: { readonly attempts: number; readonly baseDelayMs: number; readonly maxDelayMs: number };
  readonly inDoubtRetryMs: number;
}

type Result = { state: Exclude<StepState, 'started'>; output?: unknown; error?: unknown; refusal?: { code: string; details?: Record<string, unknown> } };

/** A failure as stored in the log and shown in events: its code and status, never a body. */
function errorInfo(e: unknown): { code: string; status?: number; message: string } {
  const err = e as { code?: unknown; status?: unknown; message?: unknown };
  return {
    code: typeof err?.code === 'string' ? err.code : 'ERROR',
    ...(typeof err?.status === 'number' ? { status: err.status } : {}),
    message: String(err?.message ?? e).slice(0, 200),
  };
}

export async function driveInstance(def: WorkflowDef, row: InstanceRow, deps: DriveDeps, trace: unknown, recovered: boolean): Promise<Outcome> {
  const { store, owner, events } = deps;
  const started = deps.now();
  const base = { workflow: def.name, instanceId: row.id, trace };
  // An instance this process has just created has no steps yet: only a recovered one is read back.
  const log = new Map<string, StepRow>(recovered ? (await store.steps(row.id)).map((s) => [`${s.step}|${s.kind}`, s]) : []);
  const state = (step: string, kind: StepKind) => log.get(`${step}|${kind}`);
  const outputs: Record<string, unknown> = {};
  for (const s of log.values()) if (s.kind === 'forward' && s.state === 'done') outputs[s.step] = s.output;
  const ctx = () => ({ input: row.input, outputs: { ...outputs }, instanceId: row.id, userId: row.userId || undefined });
  const pivot = def.steps.find((s) => s.pivot);
  const maybeApplied = (step: StepDef) => ['started', 'unknown'].includes(state(step.name, 'forward')?.state ?? '');
  const pivotPassed = () => pivot !== undefined && state(pivot.name, 'forward')?.state === 'done';

  /**
   * `done` writes not sent yet: each goes with the log's next write (the next call's intent, another
   * step's outcome, or the instance's change), one round trip for both. Safe: until it is written the
   * log says `started`, and a re-drive after a crash sends the call again with the same key, which the
   * upstream answers as before without applying it twice; and no other call leaves before it is written.
   */
  let pending: StepWrite[] = [];
  const taken = (more: StepWrite[]): StepWrite[] => {
    const all = pending.length ? [...pending, ...more] : more;
    pending = [];
    // One write per step and kind in a statement (the later wins).
    const keys = new Set(all.map((w) => `${w.step}|${w.kind}`));
    return keys.size === all.length ? all : [...new Map(all.map((w) => [`${w.step}|${w.kind}`, w])).values()];
  };

  // A step that runs beside others is written at once: its result would wait for its slowest sibling.
  const alone = new Set(def.groups.filter((g) => g.length === 1).map((g) => g[0]!.name));

  async function write(step: string, kind: StepKind, st: StepState, extra: { input?: unknown; output?: unknown; error?: unknown } = {}) {
    const w: StepWrite = { step, kind, state: st, ...extra };
    if (st === 'done' && (kind === 'compensate' || alone.has(step))) pending.push(w);
    else await store.record(row.id, owner, taken([w]), deps.now());
    const prev = log.get(`${step}|${kind}`);
    log.set(`${step}|${kind}`, {
      step, kind, state: st, input: extra.input ?? prev?.input, output: extra.output, error: extra.error,
      attempts: (prev?.attempts ?? 0) + (st === 'started' ? 1 : 0), updatedAt: deps.now(),
    });
  }

  /** A change of the instance, with the `done` writes still to send. */
  function patchInstance(patch: InstancePatch): Promise<void> {
    const steps = taken([]);
    return steps.length ? store.record(row.id, owner, steps, deps.now(), patch) : store.update(row.id, owner, patch, deps.now());
  }

  /**
   * One call, logged before and after; re-driven with the same key while its outcome is unknown. `build`
   * makes its input unless one was logged already: a re-drive sends the very body the key was first sent
   * with (an upstream answers another body under the same key with 409), even after a deploy changed it.
   */
  async function call(step: StepDef, kind: StepKind, target: CallTarget, build: () => unknown, sideEffect: boolean): Promise<Result> {
    const logged = state(step.name, kind)?.input;
    const input = logged !== undefined ? logged : build();
    const key = sideEffect ? stepKey(row.id, step.name, kind) : undefined;
    const where = { ...base, step: step.name, kind, upstream: target.upstream, endpoint: target.endpoint, keyHash: key && keyHash(key) };
    // An earlier send of this key may have been applied: a crash while it was out, or no answer to it.
    let afterLostAnswer = ['started', 'unknown'].includes(state(step.name, kind)?.state ?? '');
    for (let i = 0; ; i++) {
      if (deps.signal.aborted) throw new WorkflowRunnerClosedError();
      const attempt = (state(step.name, kind)?.attempts ?? 0) + 1;
      // The intent goes to the log before the call leaves: from here on, a crash means "maybe applied".
      if (sideEffect) await write(step.name, kind, 'started', { input });
      events.emit('stepStart', { ...where, attempt });
      const t0 = deps.now();
      let result: Result;
      try {
        const output = await deps.invoke(target.upstream, target.endpoint, input, { idempotencyKey: key, signal: deps.signal });
        result = { state: 'done', output };
      } catch (e) {
        // A call cut short by the runner closing stays `started` in the log: the next owner re-drives it.
        if (deps.signal.aborted) throw new WorkflowRunnerClosedError();
        const r = kind === 'forward' ? step.refusal?.(e) : undefined;
        if (r !== undefined) result = { state: 'refused', error: errorInfo(e), refusal: typeof r === 'string' ? { code: r } : r };
        else result = { state: !sideEffect || deps.isDefinite(e, { afterLostAnswer }) ? 'failed' : 'unknown', error: errorInfo(e) };
      }
      if (result.state === 'unknown') afterLostAnswer = true;
      await write(step.name, kind, result.state, { output: result.output, error: result.refusal ?? result.error });
      events.emit('stepEnd', { ...where, attempt, result: result.state, durationMs: deps.now() - t0, error: (result.error as { code?: string })?.code });
      // A compensation must happen, and so must a step past the point of no return: every failure of
      // those is retried; any other step only while its outcome is unknown.
      const mustHappen = kind === 'compensate' || (def.pivotGroup >= 0 && step.group > def.pivotGroup);
      const again = mustHappen ? result.state !== 'done' : result.state === 'unknown';
      if (!again || i + 1 >= deps.redrive.attempts) return result;
      const delayMs = Math.round(Math.random() * Math.min(deps.redrive.maxDelayMs, deps.redrive.baseDelayMs * 2 ** i));
      events.emit('stepRetry', { ...where, attempt, delayMs, reason: (result.error as { code?: string })?.code ?? result.state });
      await deps.sleep(delayMs);
    }
  }

  async function forwardStep(step: StepDef): Promise<Result> {
    const logged = state(step.name, 'forward');
    if (logged?.state === 'done') return { state: 'done', output: logged.output };
    const result = await call(step, 'forward', step.call, () => step.input(ctx()), step.sideEffect);
    if (result.state === 'done') outputs[step.name] = result.output;
    return result;
  }

  async function inDoubt(reason: string): Promise<never> {
    await patchInstance({ owner: null, leaseUntil: deps.now() + deps.inDoubtRetryMs, lastError: reason });
    events.emit('inDoubt', { ...base, reason });
    throw new WorkflowInDoubtError(row.id);
  }

  async function finish(outcome: Outcome): Promise<Outcome> {
    await patchInstance({ status: outcome.status, outcome, lastError: null });
    const code = outcome.status === 'completed' ? undefined : outcome.code;
    const compensated = outcome.status === 'completed' ? [] : outcome.compensated;
    events.emit('outcome', { ...base, status: outcome.status, code, compensated, durationMs: deps.now() - started });
    return outcome;
  }

  async function forward(): Promise<Outcome> {
    for (const group of def.groups) {
      const results = await Promise.allSettled(group.map((s) => forwardStep(s)));
      // Every call of the group has settled (so the log knows each one's state) before deciding.
      const thrown = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (thrown) throw thrown.reason;
      const settled = results.map((r) => (r as PromiseFulfilledResult<Result>).value);
      const bad = settled.findIndex((r) => r.state !== 'done');
      if (bad < 0) continue;
      const step = group[bad]!;
      const r = settled[bad]!;
      if (pivotPassed()) return inDoubt(`step ${step.name} ${r.state} past the point of no return`);
      const outcome: Outcome =
        r.state === 'refused'
          ? { status: 'refused', instanceId: row.id, code: r.refusal!.code, step: step.name, ...(r.refusal!.details ? { details: r.refusal!.details } : {}), compensated: [] }
          : { status: 'failed', instanceId: row.id, code: 'STEP_FAILED', step: step.name, upstream: step.call.upstream, endpoint: step.call.endpoint, compensated: [] };
      return compensate(outcome, false);
    }
    return finish({ status: 'completed', instanceId: row.id, output: def.result(ctx()) });
  }

  async function compensate(outcome: Exclude<Outcome, { status: 'completed' }>, resumed: boolean): Promise<Outcome> {
    if (!resumed) {
      await patchInstance({ status: 'compensating', outcome });
      events.emit('compensating', { ...base, reason: outcome.code, recovered });
    }
    // A pivot that may have been applied is learnt first: if it was, the workflow goes forward instead.
    if (pivot && maybeApplied(pivot)) {
      const r = await forwardStep(pivot);
      if (r.state === 'unknown') return inDoubt(`step ${pivot.name} still unknown`);
      if (r.state === 'done') {
        await patchInstance({ status: 'running', outcome: null });
        return forward();
      }
    }
    const compensated: string[] = [];
    for (const step of [...def.steps].reverse()) {
      if (!step.sideEffect) continue;
      const fwd = state(step.name, 'forward');
      if (!fwd || fwd.state === 'refused' || fwd.state === 'failed') continue; // never applied
      if (fwd.state !== 'done') {
        // Maybe applied: re-drive with the same key to learn whether it was, and its output.
        const r = await forwardStep(step);
        if (r.state === 'unknown') return inDoubt(`step ${step.name} still unknown while compensating`);
        if (r.state !== 'done') continue;
      }
      if (!step.compensate) continue;
      if (state(step.name, 'compensate')?.state !== 'done') {
        const { compensate: undo } = step;
        const r = await call(step, 'compensate', undo.call, () => undo.input({ ...ctx(), output: outputs[step.name] }), true);
        if (r.state !== 'done') return inDoubt(`compensation of ${step.name} keeps failing`);
      }
      compensated.push(step.name);
    }
    return finish({ ...outcome, compensated });
  }

  events.emit('instanceStart', { ...base, recovered });
  try {
    return await run();
  } catch (e) {
    // However the drive stops (the runner closing, a step's input or the result failing to build, a
    // store error), the results it has learnt are written: a later drive must not send them again.
    const left = taken([]);
    if (left.length > 0 && !isWorkflowLeaseLost(e)) await store.record(row.id, owner, left, deps.now()).catch(() => {});
    throw e;
  }

  async function run(): Promise<Outcome> {
    if (row.status === 'compensating') {
      if (recovered) events.emit('recovery', { ...base, decision: 'resume-compensation' });
      return compensate(row.outcome as Exclude<Outcome, { status: 'completed' }>, true);
    }
    if (recovered) {
      // The rule after a crash: past the point of no return → forward; before it → undo. A pivot left
      // maybe applied is re-driven first (same key) to learn which side of that point the instance is on.
      if (pivot && maybeApplied(pivot)) {
        const r = await forwardStep(pivot);
        if (r.state === 'unknown') return inDoubt(`step ${pivot.name} still unknown`);
      }
      const decision = pivotPassed() ? 'forward' : 'compensate';
      events.emit('recovery', { ...base, decision });
      if (decision === 'compensate') return compensate({ status: 'failed', instanceId: row.id, code: 'WORKFLOW_INTERRUPTED', compensated: [] }, false);
    }
    return forward();
  }
}
