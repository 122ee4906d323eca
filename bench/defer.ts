/**
 * @defer benchmark (issue 18.2): ProductPage as sent today against the same page with its
 * recommendations deferred, time to the first part and to the whole answer.
 *
 *   npm run bench -- defer [--rounds 3] [--requests 200] [--connections 5]
 *
 * One sandbox process (core 1, each upstream at its own latency: recommendations 60 ms) and one
 * gateway (core 0, production settings, cache off so every answer waits for its upstreams). Each
 * round sends `--requests` of each shape at `--connections`; medians of the rounds of each p50.
 */
import { request as httpRequest, Agent } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { argValue, markdownTable, median, startSandbox, startTributary, TRIBUTARY_FEATURES } from './lib.js';

const PAGE = readFileSync(new URL('../operations/ProductPage.graphql', import.meta.url), 'utf8');
// The same page with its recommendations line wrapped in an inline fragment that is deferred.
const DEFERRED = PAGE.split('\n').map((line) => (line.trim().startsWith('recommendations(') ? `    ... @defer { ${line.trim()} }` : line)).join('\n');
const VARIABLES = { id: '1', country: 'US', postcode: '10001' };

/** ms to the first body byte and to the end of the answer. */
function timed(url: string, agent: Agent, query: string, accept: string): Promise<{ first: number; whole: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let first = 0;
    const req = httpRequest(`${url}/graphql`, { method: 'POST', agent, headers: { 'content-type': 'application/json', accept } }, (res) => {
      res.on('data', () => (first ||= performance.now() - t0));
      res.on('end', () => (res.statusCode === 200 ? resolve({ first, whole: performance.now() - t0 }) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ query, variables: VARIABLES }));
  });
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function load(url: string, query: string, accept: string, requests: number, connections: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const firsts: number[] = [];
  const wholes: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next++ < requests) {
        const t = await timed(url, agent, query, accept);
        firsts.push(t.first);
        wholes.push(t.whole);
      }
    }),
  );
  agent.destroy();
  return { first: p50(firsts), whole: p50(wholes) };
}

export async function run(argv: string[]): Promise<void> {
  if (!DEFERRED.includes('@defer')) throw new Error('could not defer the recommendations of operations/ProductPage.graphql');
  const rounds = Number(argValue(argv, '--rounds') ?? 3);
  const requests = Number(argValue(argv, '--requests') ?? 200);
  const connections = Number(argValue(argv, '--connections') ?? 5);
  const sandbox = await startSandbox({ latencyMs: 10, perUpstreamMs: { recommendations: 60 } });
  const gw = await startTributary({ upstreams: sandbox.urls, env: { ...TRIBUTARY_FEATURES, CACHE: 'off' } });
  const shapes = [
    { name: 'ProductPage', query: PAGE, accept: 'application/json' },
    { name: 'ProductPage, recommendations deferred (multipart)', query: DEFERRED, accept: 'multipart/mixed; deferSpec=20220824' },
  ];
  const rows: (string | number)[][] = [];
  try {
    for (const s of shapes) {
      const firsts: number[] = [];
      const wholes: number[] = [];
      for (let r = 0; r < rounds; r++) {
        await load(gw.url, s.query, s.accept, 30, connections);
        const m = await load(gw.url, s.query, s.accept, requests, connections);
        firsts.push(m.first);
        wholes.push(m.whole);
      }
      rows.push([s.name, median(firsts).toFixed(1), median(wholes).toFixed(1)]);
      process.stdout.write(`${s.name.padEnd(52)} first part p50 ${median(firsts).toFixed(1)} ms   whole p50 ${median(wholes).toFixed(1)} ms\n`);
    }
  } finally {
    await gw.stop();
    await sandbox.stop();
  }
  process.stdout.write(`\n${markdownTable(['answer', 'first part p50 ms', 'whole answer p50 ms'], rows)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`defer bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
