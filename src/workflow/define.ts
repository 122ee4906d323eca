/**
 * `defineWorkflow`: a workflow is data the engine runs (steps, the endpoint each calls, how its input is
 * built, its compensation), checked when it is defined so a wrong definition fails at start-up with a
 * message that states the contract and shows the value received (dataloader's `getValid*` way).
 */
import { ConfigurationError } from '../errors.js';

/** The endpoint a step calls: what the perimeter map lists as what a workflow writes to. */
export interface CallTarget {
  readonly upstream: string;
  readonly endpoint: string;
}

/** What a step's input builder sees. `outputs` holds the outputs of the steps before it, by step name. */
export interface StepContext<I> {
  readonly input: I;
  readonly outputs: Readonly<Record<string, unknown>>;
  readonly instanceId: string;
  readonly userId: string | undefined;
}

/** What a compensation's input builder sees: also the output of the step it undoes. */
export interface CompensationContext<I> extends StepContext<I> {
  readonly output: unknown;
}

/** A definite "no" from the upstream (declined card, out of stock): nothing was applied. */
export interface Refusal {
  /** Stable code the outcome carries (for example `PAYMENT_DECLINED`). */
  readonly code: string;
  /** Small, client-safe details (for example the sku that is out of stock). Stored as JSON. */
  readonly details?: Record<string, unknown>;
}

export interface StepInput<I> {
  /** Unique in the workflow; part of the idempotency key (`<instance>:<step>`), so never rename a live step. */
  readonly name: string;
  readonly call: CallTarget;
  /**
   * Builds the call's input from the workflow's input and earlier steps' outputs (both as logged). The
   * input is logged with the call's intent, and a re-drive sends the logged one again.
   */
  readonly input: (ctx: StepContext<I>) => unknown;
  /** Default true: the call is logged before it is sent and carries an idempotency key. False for reads. */
  readonly sideEffect?: boolean;
  /** Undoes the step; sent with the key `<instance>:<step>:compensate`. Must be idempotent at the upstream. */
  readonly compensate?: { readonly call: CallTarget; readonly input: (ctx: CompensationContext<I>) => unknown };
  /** Names the failures that are refusals (a code, or a code with details); others are failures or unknown. */
  readonly refusal?: (error: unknown) => Refusal | string | undefined;
  /**
   * The point of no return: once this step succeeded the workflow is only ever driven forward (later steps
   * are retried, never compensated). At most one step; not inside a parallel group.
   */
  readonly pivot?: boolean;
}

export interface ParallelInput<I> {
  /** Steps that run at once; none of them may read another's output. */
  readonly parallel: readonly StepInput<I>[];
}

export interface WorkflowInput<I, R> {
  /** Unique among the runner's workflows; stored with each instance. */
  readonly name: string;
  readonly steps: readonly (StepInput<I> | ParallelInput<I>)[];
  /** The completed outcome's `output`, from the input and every step's output. Default: the outputs by step. */
  readonly result?: (ctx: StepContext<I>) => R;
}

/** A checked step, with its defaults resolved and its position. */
export interface StepDef<I = unknown> extends StepInput<I> {
  readonly sideEffect: boolean;
  readonly pivot: boolean;
  /** Index of the group (one step, or one parallel group) in the workflow's order. */
  readonly group: number;
}

/** A checked workflow. `groups` run in order; the steps of one group run at once. */
export interface WorkflowDef<I = unknown, R = unknown> {
  readonly name: string;
  readonly groups: readonly (readonly StepDef<I>[])[];
  readonly steps: readonly StepDef<I>[];
  readonly result: (ctx: StepContext<I>) => R;
  /** Group index of the pivot step, or -1 when the workflow has none (then nothing passes the point of no return before it completes). */
  readonly pivotGroup: number;
  /** Every endpoint the workflow may call with a side effect, compensations included (for the perimeter map). */
  readonly writes: readonly CallTarget[];
  /** Every endpoint it calls, reads included. */
  readonly calls: readonly CallTarget[];
}

const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

function show(received: unknown): string {
  if (typeof received === 'function') return 'a function';
  try {
    return JSON.stringify(received) ?? String(received);
  } catch {
    return String(received);
  }
}

function fail(where: string, contract: string, received: unknown): never {
  throw new ConfigurationError(`${where} must be ${contract}, but received: ${show(received)}`);
}

function checkTarget(where: string, target: unknown): CallTarget {
  const t = target as Partial<CallTarget> | undefined;
  if (!t || typeof t !== 'object' || typeof t.upstream !== 'string' || typeof t.endpoint !== 'string' || !t.upstream || !t.endpoint) {
    fail(where, 'an object { upstream: string, endpoint: string } naming the endpoint called', target);
  }
  return { upstream: t.upstream, endpoint: t.endpoint };
}

function checkStep<I>(where: string, raw: unknown, group: number): StepDef<I> {
  const s = raw as StepInput<I> | undefined;
  if (!s || typeof s !== 'object') fail(where, 'a step object { name, call, input }', raw);
  if (typeof s.name !== 'string' || !NAME.test(s.name)) fail(`${where}.name`, `a name matching ${NAME}`, s.name);
  const at = `${where} (${JSON.stringify(s.name)})`;
  checkTarget(`${at}.call`, s.call);
  if (typeof s.input !== 'function') fail(`${at}.input`, 'a function building the call input from { input, outputs }', s.input);
  if (s.sideEffect !== undefined && typeof s.sideEffect !== 'boolean') fail(`${at}.sideEffect`, 'a boolean', s.sideEffect);
  if (s.pivot !== undefined && typeof s.pivot !== 'boolean') fail(`${at}.pivot`, 'a boolean', s.pivot);
  if (s.refusal !== undefined && typeof s.refusal !== 'function') fail(`${at}.refusal`, 'a function (error) => code | { code, details } | undefined', s.refusal);
  const sideEffect = s.sideEffect ?? true;
  if (s.compensate !== undefined) {
    const c = s.compensate as { call?: unknown; input?: unknown } | null;
    if (!c || typeof c !== 'object') fail(`${at}.compensate`, 'an object { call, input }', s.compensate);
    checkTarget(`${at}.compensate.call`, c.call);
    if (typeof c.input !== 'function') fail(`${at}.compensate.input`, 'a function building the compensation input from { input, outputs, output }', c.input);
    if (!sideEffect) fail(`${at}.compensate`, 'absent on a step without side effect (there is nothing to undo)', '{ call, input }');
  }
  if (s.pivot && !sideEffect) fail(`${at}.pivot`, 'set only on a step with a side effect', s.pivot);
  return { ...s, sideEffect, pivot: s.pivot ?? false, group };
}

/**
 * Checks a workflow definition and resolves its defaults.
 *
 * @example
 * export const placeOrder = defineWorkflow({
 *   name: 'placeOrder',
 *   steps: [
 *     { name: 'reserve', call: { upstream: 'inventory', endpoint: 'reserve' }, input: ({ input }) => ({ items: input.lines }),
 *       compensate: { call: { upstream: 'inventory', endpoint: 'release' }, input: ({ output }) => ({ id: output.reservationId }) } },
 *     { name: 'charge', call: { upstream: 'payments', endpoint: 'charge' }, input: ..., refusal: (e) => (status(e) === 402 ? 'PAYMENT_DECLINED' : undefined) },
 *   ],
 * });
 */
export function defineWorkflow<I, R = Record<string, unknown>>(def: WorkflowInput<I, R>): WorkflowDef<I, R> {
  if (!def || typeof def !== 'object') fail('A workflow definition', 'an object { name, steps }', def);
  if (typeof def.name !== 'string' || !NAME.test(def.name)) fail('A workflow\'s name', `a name matching ${NAME}`, def.name);
  const where = `Workflow ${JSON.stringify(def.name)}`;
  if (!Array.isArray(def.steps) || def.steps.length === 0) fail(`${where}.steps`, 'a non-empty array of steps or { parallel: [steps] }', def.steps);
  if (def.result !== undefined && typeof def.result !== 'function') fail(`${where}.result`, 'a function (ctx) => output', def.result);

  const groups: StepDef<I>[][] = def.steps.map((entry, g) => {
    const parallel = (entry as ParallelInput<I>)?.parallel;
    if (parallel === undefined) return [checkStep<I>(`${where}.steps[${g}]`, entry, g)];
    if (!Array.isArray(parallel) || parallel.length < 2) fail(`${where}.steps[${g}].parallel`, 'an array of at least two steps', parallel);
    return parallel.map((s, i) => {
      const step = checkStep<I>(`${where}.steps[${g}].parallel[${i}]`, s, g);
      if (step.pivot) fail(`${where}.steps[${g}].parallel[${i}].pivot`, 'false: the point of no return is one step, not a parallel group', true);
      return step;
    });
  });
  const steps = groups.flat();

  const seen = new Set<string>();
  for (const s of steps) {
    if (seen.has(s.name)) fail(`${where}: each step's name`, 'unique (it is part of the idempotency key)', s.name);
    seen.add(s.name);
  }
  const pivots = steps.filter((s) => s.pivot);
  if (pivots.length > 1) fail(`${where}: the point of no return`, 'at most one step with pivot: true', pivots.map((s) => s.name));
  const pivotGroup = pivots[0]?.group ?? -1;
  for (const s of steps) {
    if (pivotGroup >= 0 && s.group > pivotGroup && s.compensate) {
      fail(`${where}: step ${JSON.stringify(s.name)}.compensate`, 'absent after the pivot step (the workflow is only driven forward past it)', 'a compensation');
    }
  }

  const key = (t: CallTarget) => `${t.upstream}\u0000${t.endpoint}`;
  const unique = (list: CallTarget[]) => [...new Map(list.map((t) => [key(t), { upstream: t.upstream, endpoint: t.endpoint }])).values()];
  const writes = unique(steps.flatMap((s) => (s.sideEffect ? [s.call, ...(s.compensate ? [s.compensate.call] : [])] : [])));
  const calls = unique(steps.flatMap((s) => [s.call, ...(s.compensate ? [s.compensate.call] : [])]));
  const result = def.result ?? ((ctx: StepContext<I>) => ({ ...ctx.outputs }) as R);
  return { name: def.name, groups, steps, result, pivotGroup, writes, calls };
}
