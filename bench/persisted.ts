/**
 * Persisted documents benchmark: what a client pays for sending `documentId` (as persisted-only clients,
 * `PERSISTED_OPERATIONS=only`, must), or an APQ hash (Apollo's mobile clients), instead of the text.
 *
 *   npm run bench -- persisted [--rounds 5] [--duration 5] [--connections 50]
 *
 * One sandbox process (5 ms upstreams, core 1) and one gateway (core 0, production settings, cache off):
 * CategoryPage (20 products, two categories) as `{query, variables}`, as `{documentId, variables}` and as
 * an APQ hash alone (registered once before the rounds),
 * in turn within each round; the gateway's CPU ms per request and req/s, medians of the rounds, and the
 * median of the per-round ratios to query (the machine drifts between rounds).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { argValue, markdownTable, median, pinSelf, round, startSandbox, startTributary, TRIBUTARY_FEATURES } from './lib.js';

export async function run(argv: string[]): Promise<void> {
  pinSelf(1);
  const rounds = Number(argValue(argv, '--rounds') ?? 5);
  const durationS = Number(argValue(argv, '--duration') ?? 5);
  const connections = Number(argValue(argv, '--connections') ?? 50);
  const text = readFileSync(new URL('../operations/CategoryPage.graphql', import.meta.url), 'utf8');
  const manifest = JSON.parse(readFileSync(new URL('../generated/persisted-operations.json', import.meta.url), 'utf8')) as { operations: { name: string; sha256: string }[] };
  const id = `sha256:${manifest.operations.find((o) => o.name === 'CategoryPage')!.sha256}`;
  const slugs = ['groceries', 'kitchen-accessories'];
  const apqHash = createHash('sha256').update(text).digest('hex');
  const variants: Record<string, string[]> = {
    query: slugs.map((slug) => JSON.stringify({ query: text, variables: { slug, first: 20 } })),
    documentId: slugs.map((slug) => JSON.stringify({ documentId: id, variables: { slug, first: 20 } })),
    // Apollo's automatic persisted queries: the hash alone, once registered.
    apq: slugs.map((slug) => JSON.stringify({ variables: { slug, first: 20 }, extensions: { persistedQuery: { version: 1, sha256Hash: apqHash } } })),
  };
  const sandbox = await startSandbox({ latencyMs: 5 });
  const gw = await startTributary({ upstreams: sandbox.urls, env: { ...TRIBUTARY_FEATURES, CACHE: 'off' } });
  // APQ: the first request carries the text with its hash and registers it.
  const registered = await fetch(`${gw.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: text, variables: { slug: slugs[0], first: 20 }, extensions: { persistedQuery: { version: 1, sha256Hash: apqHash } } }),
  });
  if (registered.status !== 200) throw new Error(`APQ registration answered ${registered.status}`);
  const cpu: Record<string, number[]> = {};
  const rps: Record<string, number[]> = {};
  try {
    for (let r = 0; r < rounds; r++) {
      for (const [name, bodies] of Object.entries(variants)) {
        const x = await round({ gatewayPid: gw.pid, url: `${gw.url}/graphql`, bodies, connections, durationS, warmupS: 2, check: (b) => b.includes('"totalCount"') });
        if (x.non2xx || x.errors || x.wrong) throw new Error(`${name}: ${x.non2xx} non-2xx, ${x.errors} errors, ${x.wrong} wrong answers`);
        (cpu[name] ??= []).push(x.cpuMsPerRequest);
        (rps[name] ??= []).push(x.rps);
        process.stdout.write(`round ${r + 1} ${name.padEnd(10)} ${x.cpuMsPerRequest.toFixed(3)} ms CPU/request  ${x.rps.toFixed(0)} req/s\n`);
      }
    }
  } finally {
    await gw.stop();
    await sandbox.stop();
  }
  const ratio = (name: string) => median(cpu[name]!.map((c, i) => c / cpu.query![i]!));
  const rows = Object.keys(variants).map((name) => [name, median(cpu[name]!).toFixed(3), median(rps[name]!).toFixed(0), name === 'query' ? '1' : ratio(name).toFixed(3)]);
  process.stdout.write(`\n${markdownTable(['CategoryPage sent as', 'gateway CPU ms/request', 'req/s', 'CPU ÷ query (median of rounds)'], rows)}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`persisted bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
