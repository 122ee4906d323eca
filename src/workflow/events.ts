/**
 * The engine's telemetry: it emits, traces/metrics/logs listen (the cockatiel way); nothing in the engine
 * logs by itself. Every event names the workflow and instance; `trace` is whatever the caller passed to
 * `run` (a request's span, say), so a listener can attach steps to the request that started them
 * (undefined for an instance driven by the recovery loop). Keys are shown hashed, never as sent.
 */
import type { StepKind } from './store.js';
import type { OutcomeStatus } from './outcome.js';

interface Base {
  readonly workflow: string;
  readonly instanceId: string;
  readonly trace: unknown;
}

interface StepBase extends Base {
  readonly step: string;
  readonly kind: StepKind;
  readonly upstream: string;
  readonly endpoint: string;
  /** 1 for the first call of this step in this instance's life; a re-drive (here or after a crash) counts on. */
  readonly attempt: number;
  /** sha256 prefix of the idempotency key sent; undefined for a step without side effect. */
  readonly keyHash: string | undefined;
}

export interface WorkflowEvents {
  /** A runner starts driving an instance: a new one, or one it claimed (`recovered`). */
  instanceStart: Base & { readonly recovered: boolean };
  stepStart: StepBase;
  /** `result`: done, refused (a declared refusal), failed (definitely not applied) or unknown (maybe applied). */
  stepEnd: StepBase & { readonly result: 'done' | 'refused' | 'failed' | 'unknown'; readonly durationMs: number; readonly error: string | undefined };
  /** A call is sent again with the same key after `delayMs` (its outcome was unknown). */
  stepRetry: StepBase & { readonly delayMs: number; readonly reason: string };
  /** The instance turns to undoing its side effects; `reason` is the outcome code it will answer. */
  compensating: Base & { readonly reason: string; readonly recovered: boolean };
  /** A recovered instance's fate: driven forward (past the point of no return) or compensated. */
  recovery: Base & { readonly decision: 'forward' | 'compensate' | 'resume-compensation' };
  outcome: Base & { readonly status: OutcomeStatus; readonly code: string | undefined; readonly compensated: readonly string[]; readonly durationMs: number };
  /** Driving stopped without an outcome; the recovery loop takes the instance again later. */
  inDoubt: Base & { readonly reason: string };
  /** Another process claimed an instance this one was driving (its lease had passed). */
  leaseLost: Base;
}

type Listener<T> = (event: T) => void;

/** A small typed emitter. Listener errors are swallowed so telemetry can never break a workflow. */
export class WorkflowTelemetry {
  private readonly listeners: { [K in keyof WorkflowEvents]?: Listener<WorkflowEvents[K]>[] } = {};

  on<K extends keyof WorkflowEvents>(name: K, fn: Listener<WorkflowEvents[K]>): () => void {
    const list = (this.listeners[name] ??= []) as Listener<WorkflowEvents[K]>[];
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  emit<K extends keyof WorkflowEvents>(name: K, event: WorkflowEvents[K]): void {
    const list = this.listeners[name] as Listener<WorkflowEvents[K]>[] | undefined;
    if (!list) return;
    for (const fn of list) {
      try {
        fn(event);
      } catch {
        // a broken listener must not break the workflow it observes
      }
    }
  }
}
