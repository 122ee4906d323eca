/**
 * Production serving, from outside a real gateway process: the drain of a rolling deploy (SIGTERM with
 * requests in flight: none cut off, /readyz 503 at once, new requests served through the grace and
 * refused after it, every answer closing its connection, exit 0), the same with two workers, and the
 * bounds on slow clients (headers and body read timeouts, a cap on connections).
 */
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxUpstreamNames, startSandbox, type Sandbox } from '../sandbox/index.js';
import { sandboxEnv, startGatewayProcess, type GatewayProcess } from './support/gateway-process.js';
import { eventually } from './support/wait.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ portBase: 0, seed: 5, latencyMs: Object.fromEntries(sandboxUpstreamNames().map((n) => [n, 0])) });
});
afterAll(() => sandbox?.close());

const QUERY = JSON.stringify({ query: '{ product(id: "1") { id title } }' });

const catalogCalls = () => sandbox.upstream('catalog').stats().requests.filter((r) => r.path.startsWith('/products')).length;
const exitOf = (gw: GatewayProcess) => new Promise<number | null>((resolve) => (gw.child.exitCode !== null ? resolve(gw.child.exitCode) : gw.child.once('exit', (code) => resolve(code))));

/** One request on a connection of its own: its status, or the connection error's code. */
function fresh(url: string, path: string): Promise<{ status: number; connection?: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(`${url}${path}`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

async function drainUnderLoad(workers: number) {
  // The held request is finished by the test itself: the deadline only has to outlast this test's steps
  // on a loaded machine (8 s did not, once, with two workers), it never lengthens a passing run.
  const env = { ...sandboxEnv(sandbox.urls), CACHE: 'off', SHUTDOWN_GRACE_MS: '1000', SHUTDOWN_TIMEOUT_MS: '30000', ...(workers > 1 ? { WORKERS: String(workers) } : {}) };
  const gw = await startGatewayProcess(env);
  const exited = exitOf(gw);
  // Keep-alive connections, as a load balancer holds them.
  const agent = new Agent({ connections: 50, keepAliveTimeout: 60_000 });
  // Set once /readyz answered 503: every answer received after that was sent while draining.
  let drainSeen = false;
  const post = (body: string, headers: Record<string, string> = {}) =>
    request(`${gw.url}/graphql`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', accept: 'application/json', ...headers }, body }).then(
      async (r) => ({ status: r.statusCode, connection: r.headers.connection, afterDrainSeen: drainSeen, body: (await r.body.json()) as any }),
      (e: NodeJS.ErrnoException) => ({ status: 0, connection: undefined, afterDrainSeen: drainSeen, body: { error: e.code ?? e.message } }),
    );
  try {
    expect((await post(QUERY)).status).toBe(200); // warm
    // Every product read takes 600 ms.
    sandbox.upstream('catalog').setFaults({ latencyMs: 600 });
    const before = catalogCalls();
    // A request whose body stops halfway: in flight until the test sends the rest (it outlives the grace).
    const held = await raw(gw.url);
    const heldBody = QUERY;
    held.socket.write(`POST /graphql HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: ${heldBody.length}\r\n\r\n${heldBody.slice(0, 10)}`);
    const inFlight = Array.from({ length: 40 }, () => post(QUERY));
    await eventually(() => catalogCalls() - before >= 40, 'the 40 requests reached the catalog');

    gw.child.kill('SIGTERM');

    // At once: not ready, still alive; and a new request through the grace is served, its connection closed after.
    await eventually(async () => {
      const r = await fresh(gw.url, '/readyz');
      drainSeen = 'status' in r && r.status === 503;
      return drainSeen;
    }, '/readyz answers 503 once draining');
    expect(await fresh(gw.url, '/healthz')).toMatchObject({ status: 200 });
    const during = await post(QUERY);
    expect(during.status).toBe(200);
    expect(during.connection).toBe('close');

    // After the grace, while the held request is still in flight: the listener is closed, the process alive.
    let refusedWhileAlive = false;
    await eventually(async () => {
      const r = await fresh(gw.url, '/healthz');
      // Refused (one process), or accepted by the cluster's primary and closed unanswered (no worker listens any more).
      if ('error' in r) refusedWhileAlive = gw.child.exitCode === null && /ECONNREFUSED|ECONNRESET|socket hang up/.test(r.error);
      return 'error' in r;
    }, 'new connections refused after the grace', 8_000);
    expect(refusedWhileAlive).toBe(true);

    const answers = await Promise.all(inFlight);
    expect(answers.filter((a) => a.status !== 200).map((a) => a.body)).toEqual([]);
    for (const a of answers) expect(a.body.data.product.id).toBe('1');
    // Those in flight when the drain began were answered whole, and closed their connection.
    const whileDraining = answers.filter((a) => a.afterDrainSeen);
    expect(whileDraining.length).toBeGreaterThan(0);
    for (const a of whileDraining) expect(a.connection).toBe('close');
    const atStart = Number(/"inFlight":(\d+),"msg":"draining/.exec(gw.output())?.[1] ?? 0);
    if (workers === 1) expect(atStart).toBeGreaterThanOrEqual(whileDraining.length);
    // The held request, finished now: answered whole, its connection closed after.
    held.socket.write(heldBody.slice(10));
    await held.closed;
    expect(held.received()).toMatch(/^HTTP\/1\.1 200/);
    expect(held.received()).toMatch(/connection: close/i);
    expect(held.received()).toContain('"product":{"id":"1"');
    expect(await exited).toBe(0);
    // Each process drained with nothing cut off; no worker was replaced while stopping.
    expect(gw.output().match(/drained: every request answered/g)).toHaveLength(workers);
    expect(gw.output()).not.toMatch(/replacing it/);
  } finally {
    sandbox.upstream('catalog').setFaults(null);
    await agent.close().catch(() => {});
    if (gw.child.exitCode === null) await gw.kill();
  }
}

describe('drain on SIGTERM', () => {
  it('answers every request in flight, serves through the grace with /readyz 503, then refuses new connections and exits 0', () => drainUnderLoad(1), 60_000);
  it('the same with two workers: the primary drains both and none is replaced', () => drainUnderLoad(2), 60_000);
});

/** A raw connection: what it received, and whether (and when in our sending) the server closed it. */
function raw(url: string): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = connect(Number(port), hostname, () => resolve({ socket, received: () => received, closed }));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('data', (d) => (received += d.toString()));
    socket.on('error', () => {});
    socket.once('error', reject);
  });
}

describe('slow clients', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGatewayProcess({ ...sandboxEnv(sandbox.urls), HEADERS_TIMEOUT_MS: '500', REQUEST_BODY_TIMEOUT_MS: '1000', MAX_CONNECTIONS: '4' });
  }, 30_000);
  afterAll(() => gw?.stop());

  it('cuts off a client that trickles its body, and one that trickles its headers, before they finish', async () => {
    const { host } = new URL(gw.url);
    const body = raw(gw.url).then(async (c) => {
      c.socket.write(`POST /graphql HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n`);
      let sent = 0;
      const t = setInterval(() => c.socket.writable && sent < 200 && (c.socket.write('x'), sent++), 100);
      await c.closed;
      clearInterval(t);
      return { sent, received: c.received() };
    });
    const headers = raw(gw.url).then(async (c) => {
      const head = `POST /graphql HTTP/1.1\r\nHost: ${host}\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`;
      let sent = 0;
      const t = setInterval(() => c.socket.writable && sent < head.length && c.socket.write(head[sent++]!), 50);
      await c.closed;
      clearInterval(t);
      return { sent, total: head.length, received: c.received() };
    });
    const [b, h] = await Promise.all([body, headers]);
    // Cut off well before the end (200 bytes at 10 a second would take 20 s; the bound is 1 s).
    expect(b.sent).toBeLessThan(200);
    expect(b.received).toMatch(/^HTTP\/1\.1 408/);
    expect(h.sent).toBeLessThan(h.total);
  }, 30_000);

  it('refuses connections beyond MAX_CONNECTIONS while the open ones keep working', async () => {
    const agent = new Agent({ connections: 4, keepAliveTimeout: 30_000, pipelining: 1 });
    const ask = () => request(`${gw.url}/healthz`, { dispatcher: agent }).then(async (r) => (await r.body.text(), r.statusCode));
    try {
      // Four keep-alive connections, each used once and held open by the agent.
      expect(await Promise.all([ask(), ask(), ask(), ask()])).toEqual([200, 200, 200, 200]);
      // A fifth connection is closed by the server without an answer.
      const extra = await raw(gw.url);
      extra.socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
      await extra.closed;
      expect(extra.received()).toBe('');
      // The open ones still answer.
      expect(await Promise.all([ask(), ask()])).toEqual([200, 200]);
    } finally {
      await agent.close();
    }
  }, 30_000);
});
