/**
 * Writes on the perimeter map: which fields run an orchestrated write (a workflow), every endpoint
 * it writes to (compensations included), and who may call them. "Which services can write to the
 * orders database" is this table filtered by upstream (`npm run perimeter -- --writes orders`).
 *
 * The probe never runs a workflow: a resolver's `ctx.workflows.run(name, ...)` is recorded against
 * the field resolving it (its calls become the field's endpoints), what the resolver reads first
 * (`prepare`, a quote) runs as usual, and the run answers that the write was not made.
 */
import type { PerimeterField } from './derive.js';

/** What the perimeter needs of a workflow definition (src/workflow `WorkflowDef`). */
export interface ProbedWorkflow {
  readonly name: string;
  readonly calls: readonly { readonly upstream: string; readonly endpoint: string }[];
  readonly writes: readonly { readonly upstream: string; readonly endpoint: string }[];
}

export interface PerimeterWrite {
  /** The field that runs it, `Mutation.placeOrder`. */
  readonly field: string;
  readonly workflow: string;
  /** Endpoint ids it writes to (side effects and their compensations), sorted. */
  readonly writes: string[];
  /** Endpoint ids it only reads, sorted. */
  readonly reads: string[];
  /** Clients that may call the field (the `write` permission; persisted-only ones when an operation of theirs selects it). */
  readonly clients: string[];
}

const id = (t: { upstream: string; endpoint: string }) => `${t.upstream}.${t.endpoint}`;

/**
 * The `workflows` the probe's resolvers get: each run records the workflow and its calls on the
 * field resolving it, runs `prepare` (its reads), and answers "interrupted", so nothing is written.
 */
export function probeWorkflows(workflows: readonly ProbedWorkflow[], store: () => { loads: Set<string>; workflows?: Set<string> } | undefined) {
  return {
    async run(name: string, o: { prepare?: () => Promise<unknown> }) {
      const wf = workflows.find((w) => w.name === name);
      const s = store();
      if (wf && s) {
        s.workflows?.add(name);
        for (const c of wf.calls) s.loads.add(id(c));
      }
      if (o.prepare) await o.prepare();
      return { status: 'failed' as const, instanceId: 'perimeter-probe', code: 'WORKFLOW_INTERRUPTED' as const, compensated: [] };
    },
  };
}

/** One row per (field, workflow) the probe recorded. */
export function writesOf(records: ReadonlyMap<string, { workflows: Set<string> }>, fields: readonly PerimeterField[], workflows: readonly ProbedWorkflow[]): PerimeterWrite[] {
  const out: PerimeterWrite[] = [];
  for (const [coordinate, rec] of records) {
    for (const name of [...rec.workflows].sort()) {
      const wf = workflows.find((w) => w.name === name);
      if (!wf) continue;
      const writes = [...new Set(wf.writes.map(id))].sort();
      const field = fields.find((f) => f.coordinate === coordinate);
      out.push({ field: coordinate, workflow: name, writes, reads: (field?.endpoints ?? []).filter((e) => !writes.includes(e)), clients: field?.clients ?? [] });
    }
  }
  return out.sort((a, b) => a.field.localeCompare(b.field));
}
