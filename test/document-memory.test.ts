/**
 * Memory bounded in bytes against documents made to fill it: a real gateway process with a small heap
 * (`--max-old-space-size=256`) receives 1,300 distinct documents of three tokens and a long comment
 * (comments are not tokens) over the document limit, then 1,300 distinct documents of 90 KB that it parses, validates and caches.
 * It stays alive, and its resident memory grows by less than 100 MB; a long operation name is cut where
 * it is logged and traced.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxUpstreamNames, startSandbox, type Sandbox } from '../sandbox/index.js';
import { sandboxEnv, startGatewayProcess, type GatewayProcess } from './support/gateway-process.js';
import { eventually } from './support/wait.js';

let sandbox: Sandbox;
let gw: GatewayProcess;

beforeAll(async () => {
  sandbox = await startSandbox({ portBase: 0, seed: 2, latencyMs: Object.fromEntries(sandboxUpstreamNames().map((n) => [n, 0])) });
  gw = await startGatewayProcess({ ...sandboxEnv(sandbox.urls), NODE_OPTIONS: '--max-old-space-size=256', TRACES: 'on' });
}, 60_000);
afterAll(async () => {
  await gw?.stop();
  await sandbox?.close();
});

const rssMb = () => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${gw.child.pid}/status`, 'utf8'))![1]) / 1024;

const send = (query: string) =>
  fetch(`${gw.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' }, body: JSON.stringify({ query }) }).then(async (r) => ({
    status: r.status,
    headers: r.headers,
    body: (await r.json()) as any,
  }));

/** `total` documents, `concurrency` at a time; answers the status counts. */
async function loop(total: number, concurrency: number, doc: (i: number) => string): Promise<Record<number, number>> {
  const statuses: Record<number, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const r = await send(doc(next++));
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      }
    }),
  );
  return statuses;
}

describe('documents made to fill the memory', () => {
  it("refuses 1,300 documents of a long comment over the limit, caches 1,300 of 90 KB (under 100 MB of growth), then 1,300 that do not parse (under 50 MB more)", async () => {
    for (let i = 0; i < 20; i++) expect((await send(`{ apiVersion } # warm ${i}`)).status).toBe(200);
    const before = rssMb();
    // Over the document limit (100,000 characters): refused before parsing. The 1 MB of the report is
    // refused the same way; 150 KB keeps this test's traffic (and time) a seventh of it.
    const over = 'x'.repeat(150_000);
    const huge = await loop(1_300, 4, (i) => `{ apiVersion } # ${i} ${over}`);
    expect(huge).toEqual({ 413: 1_300 });
    const refusal = await send(`{ apiVersion } # ${'x'.repeat(1_000_000)}`);
    expect(refusal.status).toBe(413);
    expect(refusal.body.errors[0].extensions.code).toBe('DOCUMENT_TOO_LARGE');
    const kb90 = 'y'.repeat(90_000);
    const large = await loop(1_300, 4, (i) => `{ apiVersion } # ${i} ${kb90}`);
    expect(large).toEqual({ 200: 1_300 });
    expect(gw.child.exitCode).toBeNull();
    const afterValid = rssMb();
    expect(afterValid - before).toBeLessThan(100);
    // 1,300 of 90 KB that do not parse: their errors (which hold the text) are cached within a byte bound
    // too (about 8 MB). Unbounded by bytes, 1,024 of them were kept: 90 MB and more on top.
    const broken = await loop(1_300, 4, (i) => `{ apiVersion # ${i} ${kb90}\n`);
    expect(broken).toEqual({ 400: 1_300 });
    expect(gw.child.exitCode).toBeNull();
    expect(rssMb() - afterValid).toBeLessThan(50);
  }, 180_000);

  it('cuts a long operation name where it is logged and traced', async () => {
    const name = `Op${'n'.repeat(5_000)}`;
    const r = await send(`query ${name} { apiVersion }`);
    expect(r.status).toBe(200);
    const traces = (await (await fetch(`${gw.url}/traces?limit=5`)).json()) as { traces: { operationName: string | null }[] };
    const traced = traces.traces.find((t) => t.operationName?.startsWith('Opnnn'));
    expect(traced).toBeDefined();
    expect(traced!.operationName!.length).toBeLessThanOrEqual(128);
    expect(traced!.operationName!.endsWith('…')).toBe(true);
    await eventually(() => gw.output().includes('"operation":"Opnnn'), 'the request line is written');
    const logged = gw.output().split('\n').filter((l) => l.includes('"operation":"Opnnn'));
    expect(logged.length).toBeGreaterThan(0);
    for (const line of logged) expect(line.length).toBeLessThan(2_000);
  });

  it('keeps 20 errors in a trace, each message cut to 512 characters, and counts the rest', async () => {
    // 95 unknown fields of 1,000 characters: 95 validation errors, each quoting its field.
    const fields = Array.from({ length: 95 }, (_, i) => `f${'x'.repeat(1_000)}${i}`).join(' ');
    const r = await send(`{ ${fields} }`);
    const id = r.headers.get('x-request-id')!;
    expect(r.body.errors).toHaveLength(95);
    const trace = (await (await fetch(`${gw.url}/traces/${id}`, { headers: { accept: 'application/json' } })).json()) as { errors: { message: string; code: string }[]; errorsNotKept: number };
    expect(trace.errors).toHaveLength(20);
    expect(trace.errorsNotKept).toBe(75);
    for (const e of trace.errors) {
      expect(e.message.length).toBeLessThanOrEqual(512);
      expect(e.code).toBe('GRAPHQL_VALIDATION_FAILED');
    }
    const list = (await (await fetch(`${gw.url}/traces?limit=5`)).json()) as { traces: { requestId: string; errors: number }[] };
    expect(list.traces.find((t) => t.requestId === id)?.errors).toBe(95);
  });
});
