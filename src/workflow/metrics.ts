/**
 * Prometheus metrics of the workflows, fed from the runner's events (the engine logs and counts
 * nothing itself): outcomes per workflow, and step calls per workflow, step, kind and result.
 */
import { Counter, type Registry } from 'prom-client';
import type { WorkflowRunner } from './runner.js';

/**
 * Registers the counters on `registry` and listens to `runner`; answers a function that stops listening.
 *
 * @example
 * const stop = workflowMetrics(service.runner, observability.metrics.registry, service.logCalls);
 */
export function workflowMetrics(runner: WorkflowRunner, registry: Registry, logCalls?: () => Readonly<Record<string, number | undefined>>): () => void {
  const registers = [registry];
  if (logCalls) {
    new Counter({
      name: 'tributary_workflow_log_calls_total',
      help: 'Calls to the workflow log, by operation: each one round trip on PostgreSQL, one transaction on the embedded log.',
      labelNames: ['operation'] as const,
      registers,
      collect() {
        this.reset();
        for (const [operation, n] of Object.entries(logCalls())) if (n) this.inc({ operation }, n);
      },
    });
  }
  const outcomes = new Counter({
    name: 'tributary_workflow_outcomes_total',
    help: 'Workflow instances finished, by workflow, outcome (completed, refused, failed) and code.',
    labelNames: ['workflow', 'outcome', 'code'] as const,
    registers,
  });
  const steps = new Counter({
    name: 'tributary_workflow_steps_total',
    help: 'Workflow step calls, by workflow, step, kind (forward, compensate) and result (done, refused, failed, unknown).',
    labelNames: ['workflow', 'step', 'kind', 'result'] as const,
    registers,
  });
  const inDoubt = new Counter({ name: 'tributary_workflow_in_doubt_total', help: 'Drives that stopped without an outcome (left to recovery), by workflow.', labelNames: ['workflow'] as const, registers });
  const offs = [
    runner.on('outcome', (e) => outcomes.inc({ workflow: e.workflow, outcome: e.status, code: e.code ?? '' })),
    runner.on('stepEnd', (e) => steps.inc({ workflow: e.workflow, step: e.step, kind: e.kind, result: e.result })),
    runner.on('inDoubt', (e) => inDoubt.inc({ workflow: e.workflow })),
  ];
  return () => {
    for (const off of offs) off();
  };
}
