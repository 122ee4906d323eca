/**
 * Compression benchmark (issue 18.4): bytes and gateway CPU per answer, identity vs gzip vs br.
 *
 *   npm run bench -- compression [--rounds 3] [--requests 400] [--connections 10]
 *
 * One sandbox process (core 1) and one gateway (core 0, production settings, cache on so the answer's
 * making is cheap and the encoding shows): for each page (CategoryPage with 20 products, ProductPage)
 * and each `Accept-Encoding`, a warm-up, then `--requests` POSTs at `--connections`; bytes of one answer
 * on the wire, and the gateway's CPU ms per request (from /proc), medians of the rounds.
 */
import { request as httpRequest, Agent } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { argValue, cpuMs, markdownTable, median, startSandbox, startTributary, TRIBUTARY_FEATURES } from './lib.js';

const op = (name: string) => readFileSync(new URL(`../operations/${name}.graphql`, import.meta.url), 'utf8');
const PAGES = [
  { name: 'CategoryPage (20 products)', body: JSON.stringify({ query: op('CategoryPage'), variables: { slug: 'groceries', first: 20 } }) },
  { name: 'ProductPage', body: JSON.stringify({ query: op('ProductPage'), variables: { id: '1', country: 'US', postcode: '10001' } }) },
];
const ENCODINGS = ['identity', 'gzip', 'br'] as const;

function post(url: string, agent: Agent, body: string, encoding: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/graphql`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'accept-encoding': encoding } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(bytes) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function load(url: string, body: string, encoding: string, requests: number, connections: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  let next = 0;
  let bytes = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next++ < requests) bytes = await post(url, agent, body, encoding);
    }),
  );
  agent.destroy();
  return bytes;
}

export async function run(argv: string[]): Promise<void> {
  const rounds = Number(argValue(argv, '--rounds') ?? 3);
  const requests = Number(argValue(argv, '--requests') ?? 400);
  const connections = Number(argValue(argv, '--connections') ?? 10);
  const sandbox = await startSandbox({ latencyMs: 2 });
  const gw = await startTributary({ upstreams: sandbox.urls, env: { ...TRIBUTARY_FEATURES } });
  const rows: (string | number)[][] = [];
  try {
    for (const page of PAGES) {
      for (const encoding of ENCODINGS) {
        const bytes: number[] = [];
        const cpu: number[] = [];
        for (let r = 0; r < rounds; r++) {
          await load(gw.url, page.body, encoding, 50, connections);
          const c0 = cpuMs(gw.pid);
          bytes.push(await load(gw.url, page.body, encoding, requests, connections));
          cpu.push((cpuMs(gw.pid) - c0) / requests);
        }
        rows.push([page.name, encoding, median(bytes), median(cpu).toFixed(3)]);
        process.stdout.write(`${page.name.padEnd(28)} ${encoding.padEnd(8)} ${String(median(bytes)).padStart(7)} bytes  ${median(cpu).toFixed(3)} ms CPU/request\n`);
      }
    }
  } finally {
    await gw.stop();
    await sandbox.stop();
  }
  process.stdout.write(`\n${markdownTable(['answer', 'encoding', 'bytes', 'gateway CPU ms/request'], rows)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`compression bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
