/** `npm run sandbox`: every sandbox upstream, configured from the environment (see sandbox/README.md). */
import { sandboxOptionsFromEnv, startSandbox } from './index.js';

let sandbox: Awaited<ReturnType<typeof startSandbox>>;
try {
  sandbox = await startSandbox(sandboxOptionsFromEnv());
} catch (err) {
  console.error(`sandbox: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

// One write, so a reader waiting for the last line sees every upstream's.
const width = Math.max(16, ...Object.keys(sandbox.urls).map((n) => n.length + 1));
console.log(`${Object.entries(sandbox.urls).map(([name, url]) => `${name.padEnd(width)} ${url}`).join('\n')}\nsandbox ready`);

let closing = false;
const shutdown = (signal: string): void => {
  if (closing) return;
  closing = true;
  console.log(`sandbox: ${signal}, closing`);
  sandbox.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
