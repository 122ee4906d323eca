/**
 * The gateway the orders benchmark runs: `startTributary` from the environment, as `npm start` does,
 * with one addition for the baseline: `BENCH_WORKFLOW_LOG=memory` runs the workflows over a log that
 * keeps nothing (bench/memory-workflow-store.ts). Every scenario runs through this same entry, so the
 * only difference between them is the log.
 */
import { startTributary } from '../src/main.js';
import { memoryWorkflowStore } from './memory-workflow-store.js';

const t = await startTributary({ env: process.env, ...(process.env.BENCH_WORKFLOW_LOG === 'memory' ? { workflowStore: memoryWorkflowStore() } : {}) });
t.logger.info({ url: `${t.url}/graphql`, log: t.workflows.store }, 'tributary listening');
const stop = () => {
  t.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
