/**
 * What a workflow instance answers, once finished. It is stored with the instance, so the same client
 * key answers the same outcome after a restart or from another replica.
 */

/** The steps whose compensation ran (in the order they ran), for the client's answer and the admin listing. */
type Undone = { readonly compensated: readonly string[] };

export type Outcome =
  /** Every step succeeded; `output` is the workflow's `result`. */
  | { readonly status: 'completed'; readonly instanceId: string; readonly output: unknown }
  /** A step was refused (declined card, out of stock); every earlier side effect was undone. */
  | ({ readonly status: 'refused'; readonly instanceId: string; readonly code: string; readonly step: string; readonly details?: Record<string, unknown> } & Undone)
  /**
   * A step failed for good (`STEP_FAILED`, naming its endpoint), or the process driving the instance died
   * before the point of no return (`WORKFLOW_INTERRUPTED`); every side effect applied was undone.
   */
  | ({
      readonly status: 'failed';
      readonly instanceId: string;
      readonly code: 'STEP_FAILED' | 'WORKFLOW_INTERRUPTED';
      readonly step?: string;
      readonly upstream?: string;
      readonly endpoint?: string;
    } & Undone);

export type OutcomeStatus = Outcome['status'];
