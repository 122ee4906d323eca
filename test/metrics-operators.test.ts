/**
 * Metrics for operators (issue 17): prom-client's process and Node metrics, a build-info gauge, the
 * GraphQL requests in flight, and under `--workers N` every scrape shows the whole process (every
 * worker, aggregated), not the one worker the scrape happened to reach.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../sandbox/index.js';
import { canaryCredentials, canaryEnv, OPERATIONS, startStack, watchCredentials, type CredentialWatch, type Stack } from './support/stack.js';
import { parsePrometheus } from './support/observability.js';
import { eventually } from './support/wait.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The value of one sample of the exposition (`name{labels} value`), or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const [head, value] = [line.slice(0, line.lastIndexOf(' ')), line.slice(line.lastIndexOf(' ') + 1)];
    if (head === `${name}${labels}`) return Number(value);
  }
  return undefined;
}

describe('process, Node, build and in-flight metrics', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });
  const scrape = async () => (await fetch(`${stack.url}/metrics`)).text();

  it("exposes prom-client's default process and Node metrics and the build info", async () => {
    const text = await scrape();
    for (const name of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_gc_duration_seconds', 'nodejs_active_handles_total']) {
      expect(text, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'tributary_build_info', `{version="${VERSION}",node="${process.version}"}`)).toBe(1);
    // Back-to-back scrapes (the event-loop lag has no new sample yet: NaN) still parse as strict exposition format.
    const again = [await scrape(), await scrape()];
    for (const t of again) expect(() => parsePrometheus(t)).not.toThrow();
  });

  it('counts the GraphQL requests in flight: 1 while one waits on a hanging upstream, 0 once it is answered', async () => {
    expect(sample(await scrape(), 'tributary_graphql_requests_in_flight')).toBe(0);
    stack.sandbox.upstreams.catalog!.setFaults({ hang: { probability: 1 } });
    try {
      const pending = stack.gql('{ product(id: "1") { id } }');
      await eventually(async () => sample(await scrape(), 'tributary_graphql_requests_in_flight') === 1, 'one request in flight');
      const r = await pending;
      expect(r.body.errors[0].extensions.upstream).toBe('catalog');
    } finally {
      stack.sandbox.upstreams.catalog!.setFaults(null);
    }
    await eventually(async () => sample(await scrape(), 'tributary_graphql_requests_in_flight') === 0, 'none in flight');
  });
});

describe('--workers 2: every scrape shows the whole process', () => {
  const C = canaryCredentials();
  const SECRETS = canaryEnv(C);
  let sandbox: Sandbox;
  let watch: CredentialWatch;
  beforeAll(async () => {
    sandbox = await startSandbox({ portBase: 0, latencyMs: { catalog: 0, pricing: 0, inventory: 0 }, credentials: C });
    watch = watchCredentials(sandbox, C, SECRETS);
  });
  afterAll(async () => {
    watch?.stop();
    await sandbox?.close();
  });

  it('20 requests over two workers: each of 8 scrapes (fresh connections) counts 20', async () => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', CACHE: 'off', ...SECRETS };
    for (const [name, url] of Object.entries(sandbox.urls)) env[`UPSTREAM_${name.toUpperCase()}_URL`] = url;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--workers', '2'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setInterval(() => {
          const m = /"url":"(http:\/\/[^"]+)\/graphql"[^\n]*"msg":"tributary listening"/.exec(out);
          if (m && [...out.matchAll(/"msg":"worker listening"/g)].length >= 2) {
            clearInterval(t);
            resolve(m[1]!);
          }
        }, 50);
        child.once('exit', (code) => {
          clearInterval(t);
          reject(new Error(`exited ${code}: ${out}`));
        });
      });
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', connection: 'close' }, body: JSON.stringify({ query: OPERATIONS.CategoryPage, variables: { slug: 'groceries', first: 2 } }) }).then(
            (r) => r.json() as Promise<{ errors?: unknown }>,
          ),
        ),
      );
      expect(answers.filter((a) => !a.errors)).toHaveLength(20);
      // The primary spreads fresh connections round-robin: each worker served about half of them.
      const scrape = async () => (await fetch(`${url}/metrics`, { headers: { connection: 'close' } })).text();
      const ok = (text: string) => sample(text, 'tributary_graphql_requests_total', '{operation="CategoryPage",type="query",outcome="ok"}');
      // The last request is counted when its response is done, just after the client read it.
      await eventually(async () => ok(await scrape()) === 20, 'the aggregate reaches 20');
      const counts: (number | undefined)[] = [];
      const texts: string[] = [];
      for (let i = 0; i < 8; i++) {
        const text = await scrape();
        texts.push(text);
        counts.push(ok(text));
      }
      expect(counts).toEqual(Array(8).fill(20));
      // Summed over the workers: the process's memory, one build-info line.
      expect(sample(texts[0]!, 'process_resident_memory_bytes')).toBeGreaterThan(0);
      expect(sample(texts[0]!, 'tributary_build_info', `{version="${VERSION}",node="${process.version}"}`)).toBe(1);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(watch.leaks([{ what: "the workers' output", text: out }, ...texts.map((text, i) => ({ what: `scrape ${i}`, text }))])).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
