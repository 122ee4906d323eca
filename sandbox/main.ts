/** `npm run sandbox`: every sandbox upstream, configured from the environment (see sandbox/README.md). */
import { sandboxOptionsFromEnv, startSandbox } from './index.js';

let sandbox: Awaited<ReturnType<typeof startSandbox>>;
try {
  sandbox = await startSandbox(sandboxOptionsFromEnv());
} catch (err) {
  console.error(`sandbox: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

for (const [name, url] of Object.entries(sandbox.urls)) console.log(`${name.padEnd(16)} ${url}`);

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
