/**
 * A runner in its own process, for the crash tests: it opens the log named by the environment, runs one
 * checkout, and prints each event and the outcome as JSON lines. With CRASH_AT (`<event>[:<step>[:<kind>]]`)
 * it kills itself with SIGKILL the moment that event is emitted, i.e. right after the log write it follows:
 * `stepStart:charge` is "intent logged, call not sent", `stepEnd:charge` "result logged, next not begun".
 */
import { createWorkflowRunner, postgresWorkflowStore, sqliteWorkflowStore, type WorkflowEvents } from '../../src/workflow/index.js';
import { checkout, shopInvoke } from './workflow-shop.js';

const env = process.env;
const store = env.WF_DATABASE_URL
  ? postgresWorkflowStore({ connectionString: env.WF_DATABASE_URL, prefix: env.WF_PREFIX! })
  : sqliteWorkflowStore({ directory: env.WF_DIRECTORY!, prefix: env.WF_PREFIX! });
const runner = createWorkflowRunner({
  workflows: [checkout],
  store,
  invoke: shopInvoke(env.SHOP_URL!),
  owner: env.WF_OWNER!,
  leaseMs: Number(env.WF_LEASE_MS ?? 15_000),
  redrive: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
});
const crashAt = env.CRASH_AT ?? '';
const names: (keyof WorkflowEvents)[] = ['instanceStart', 'stepStart', 'stepEnd', 'stepRetry', 'compensating', 'outcome', 'inDoubt'];
for (const name of names) {
  runner.on(name, (e) => {
    const ev = e as { step?: string; kind?: string };
    const id = [name, ev.step, ev.kind].filter(Boolean).join(':');
    process.stdout.write(`${JSON.stringify({ event: id })}\n`);
    if (crashAt && (id === crashAt || id === `${crashAt}:forward`)) process.kill(process.pid, 'SIGKILL');
  });
}
await runner.start();
const outcome = await runner.run('checkout', { input: JSON.parse(env.WF_INPUT!), userId: 'crash-user', clientKey: env.WF_KEY! }).catch((e: unknown) => ({ error: String(e) }));
process.stdout.write(`${JSON.stringify({ outcome })}\n`);
await runner.close();
await store.close();
