/**
 * A real gateway process (`node --import tsx src/main.ts`) for tests that kill, restart or run several
 * replicas: started with the environment given (and nothing inherited but PATH and HOME), ready once it
 * logs "tributary listening".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SANDBOX_CREDENTIALS } from '../../sandbox/index.js';
import { credentialEnv, upstreamUrlEnv } from './definitions.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface GatewayProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** SIGKILL: no drain, no flush, no hand-back; answers once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/** The sandbox's URLs and default credentials under the gateway's variable names, from the definitions. */
export function sandboxEnv(urls: Readonly<Record<string, string>>): Record<string, string> {
  return { ...upstreamUrlEnv(urls), ...credentialEnv(DEFAULT_SANDBOX_CREDENTIALS) };
}

const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

/**
 * @example
 * const gw = await startGatewayProcess({ ...sandboxEnv(sandbox.urls), WORKFLOW_DIR: dir });
 * await gw.kill();
 */
export function startGatewayProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<GatewayProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway did not start: ${out}`));
    }, timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"url":"(http:\/\/[^"]+)\/graphql"[^\n]*"msg":"tributary listening"/.exec(out);
      if (m && !ready) {
        ready = true;
        clearTimeout(timer);
        resolve({
          url: m[1]!,
          child,
          output: () => out,
          kill: async () => {
            child.kill('SIGKILL');
            await exited(child);
          },
          stop: async () => {
            child.kill('SIGTERM');
            await exited(child);
          },
        });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`gateway exited (${code}) before listening: ${out}`));
    });
  });
}
