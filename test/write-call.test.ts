/**
 * Write calls (`client.<upstream>.<endpoint>.call(input, { idempotencyKey })`) against a tiny real
 * HTTP server on port 0 that records every request: the idempotency key is sent on each attempt and
 * makes a POST retry-safe; a refusal (4xx) is not retried and carries its status and a validated
 * detail, never the raw body; nothing is batched, cached or shared.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Type } from '@sinclair/typebox';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Connector,
  MemoryStore,
  Telemetry,
  batchEndpoint,
  defineUpstream,
  idempotencyKeyHash,
  isUpstreamRefused,
  singleEndpoint,
  type AttemptEvent,
  type EngineEvents,
} from '../src/connector/index.js';
import { ConfigurationError } from '../src/errors.js';

interface Received {
  readonly method: string;
  readonly path: string;
  readonly key: string | undefined;
  readonly body: unknown;
}

let server: Server;
let baseUrl: string;
const received: Received[] = [];
/** Keys whose first attempt at /charges has been failed already. */
const failedOnce = new Set<string>();

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const key = req.headers['idempotency-key'] as string | undefined;
    const body = await readJson(req);
    received.push({ method: req.method!, path: req.url!, key, body });
    const send = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    const amount = (body as { amount?: number } | undefined)?.amount ?? 0;
    switch (req.url) {
      case '/charges':
        // The first attempt of every key fails as a gateway timeout would leave it: 503.
        if (key !== undefined && !failedOnce.has(key)) {
          failedOnce.add(key);
          return send(503, { message: 'try again' });
        }
        return send(201, { id: `ch_${key ?? 'nokey'}`, amount });
      case '/declines':
        return send(402, { code: 'card_declined', message: 'x'.repeat(500), card: '4242 4242 4242 4242' });
      case '/conflicts':
        return send(409, { message: 'out of stock', sku: 'SKU-1', internalNote: 'warehouse 7' });
      case '/misshapen':
        return send(201, { id: 42, amount: 'twelve' });
      case '/outage':
        return send(503, { message: 'down', internalNote: 'db-primary-3 unreachable' });
      default:
        return send(404, { message: 'no route' });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});
afterEach(() => {
  received.length = 0;
});

const Refusal = Type.Object({ message: Type.String(), code: Type.Optional(Type.String()), sku: Type.Optional(Type.String()) });
const Charge = Type.Object({ id: Type.String(), amount: Type.Number() });
const write = (path: string) =>
  singleEndpoint({
    method: 'POST',
    request: (input: { amount: number }) => ({ path, body: input }),
    response: Charge,
    map: (b) => ({ chargeId: b.id, amount: b.amount }),
    // A cache policy, to show that a write call never reads or fills the cache.
    cache: { ttlMs: 60_000, scope: 'public' },
    errorDetail: { response: Refusal, pick: (b: { code?: string; sku?: string; message: string }) => ({ code: b.code ?? null, sku: b.sku ?? null, message: b.message }) },
  });

const payments = defineUpstream({
  name: 'payments',
  baseUrlEnv: 'UPSTREAM_PAYMENTS_URL',
  auth: { scheme: 'none' },
  policy: { timeoutMs: 2_000, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 }, breaker: false },
  endpoints: {
    charge: write('/charges'),
    decline: write('/declines'),
    conflict: write('/conflicts'),
    outage: write('/outage'),
    misshapen: write('/misshapen'),
    lookup: batchEndpoint({
      method: 'GET',
      maxBatchSize: 10,
      request: (ids: readonly string[]) => ({ path: '/lookup', query: { ids: ids.join(',') } }),
      response: Type.Object({ items: Type.Array(Charge) }),
      items: (b) => b.items,
      itemKey: (c) => c.id,
      map: (c) => c.amount,
      cardinality: 'one',
    }),
  },
});

function connect() {
  const telemetry = new Telemetry();
  const events: { [K in keyof EngineEvents]?: EngineEvents[K][] } = {};
  for (const name of ['attempt', 'retry', 'cache'] as const) telemetry.on(name, (e) => (events[name] ??= [] as never[]).push(e as never));
  const store = new MemoryStore({ maxEntries: 100 });
  const connector = new Connector({ upstreams: [payments], env: {}, baseUrls: { payments: baseUrl }, sandboxMode: false, cache: store, telemetry });
  const scope = connector.scope({ requestId: 'w1', user: { id: 'u1' }, deadline: performance.now() + 10_000 });
  const clients = connector.clientsFor<{ payments: typeof payments }>(scope);
  return { connector, scope, clients, events, store };
}

describe('write calls', () => {
  it('with an idempotency key: a 503 on the first attempt is retried once with the same key', async () => {
    const { connector, scope, clients, events, store } = connect();
    try {
      const key = 'order-7f3a:charge';
      const charged = await clients.payments.charge.call({ amount: 1299 }, { idempotencyKey: key });
      expect(charged).toEqual({ chargeId: `ch_${key}`, amount: 1299 });
      expect(received).toEqual([
        { method: 'POST', path: '/charges', key, body: { amount: 1299 } },
        { method: 'POST', path: '/charges', key, body: { amount: 1299 } },
      ]);
      expect(events.retry).toHaveLength(1);
      // Trace and telemetry: both attempts, with the key's hash and never the key.
      const attempts = scope.attempts.map((a: AttemptEvent) => [a.status, a.error, a.idempotencyKeyHash]);
      expect(attempts).toEqual([
        [503, 'UPSTREAM_ERROR', idempotencyKeyHash(key)],
        [201, undefined, idempotencyKeyHash(key)],
      ]);
      expect(events.attempt).toHaveLength(2);
      expect(JSON.stringify([events, scope.attempts])).not.toContain(key);
      // Not cached: nothing read, nothing stored.
      expect(events.cache).toBeUndefined();
      expect(store.size).toBe(0);
    } finally {
      await connector.close();
    }
  });

  it('the same call twice, even at once, reaches the upstream twice: no cache, no coalescing, no batching', async () => {
    const { connector, clients, store } = connect();
    try {
      const key = 'order-2:charge';
      failedOnce.add(key); // this key's attempts all succeed
      const [a, b] = await Promise.all([clients.payments.charge.call({ amount: 5 }, { idempotencyKey: key }), clients.payments.charge.call({ amount: 5 }, { idempotencyKey: key })]);
      expect(a).toEqual(b);
      await clients.payments.charge.call({ amount: 5 }, { idempotencyKey: key });
      expect(received.map((r) => [r.path, r.key])).toEqual([
        ['/charges', key],
        ['/charges', key],
        ['/charges', key],
      ]);
      expect(store.size).toBe(0);
    } finally {
      await connector.close();
    }
  });

  it('without an idempotency key, a POST not declared retry-safe is sent exactly once', async () => {
    const { connector, clients } = connect();
    try {
      await expect(clients.payments.outage.call({ amount: 1 })).rejects.toMatchObject({ code: 'UPSTREAM_ERROR', status: 503 });
      expect(received).toHaveLength(1);
      expect(received[0]!.key).toBeUndefined();
      // The same call with a key is retry-safe: the policy's 3 attempts, each with the key.
      received.length = 0;
      await expect(clients.payments.outage.call({ amount: 1 }, { idempotencyKey: 'k-outage' })).rejects.toMatchObject({ code: 'UPSTREAM_ERROR', status: 503 });
      expect(received.map((r) => r.key)).toEqual(['k-outage', 'k-outage', 'k-outage']);
    } finally {
      await connector.close();
    }
  });

  it('a refusal (409, 402) is not retried; the caller reads its status and declared detail, clients never its body', async () => {
    const { connector, clients } = connect();
    try {
      const conflict = await clients.payments.conflict.call({ amount: 1 }, { idempotencyKey: 'k-409' }).catch((e: unknown) => e);
      expect(isUpstreamRefused(conflict)).toBe(true);
      expect(conflict).toMatchObject({ code: 'UPSTREAM_ERROR', status: 409, upstream: 'payments', endpoint: 'conflict', detail: { code: null, sku: 'SKU-1', message: 'out of stock' } });
      const declined = await clients.payments.decline.call({ amount: 1 }, { idempotencyKey: 'k-402' }).catch((e: unknown) => e);
      expect(declined).toMatchObject({ status: 402, detail: { code: 'card_declined', sku: null } });
      // A string field is cut to 200 characters; fields the endpoint does not pick never appear.
      expect((declined as { detail: { message: string } }).detail.message).toHaveLength(200);
      expect(received.map((r) => r.path)).toEqual(['/conflicts', '/declines']);
      for (const e of [conflict, declined] as { message: string; extensions: Record<string, unknown> }[]) {
        // What reaches a client (message, extensions) carries neither the body nor the detail.
        expect(e.extensions).toEqual({ upstream: 'payments', endpoint: e.extensions.endpoint });
        expect(JSON.stringify([e.message, e.extensions])).not.toMatch(/out of stock|SKU-1|warehouse|4242|card_declined/);
      }
      // A 5xx is not a refusal: no detail, whatever its body says.
      const outage = await clients.payments.outage.call({ amount: 1 }).catch((e: unknown) => e);
      expect(isUpstreamRefused(outage)).toBe(false);
      expect(JSON.stringify(outage)).not.toContain('db-primary');
    } finally {
      await connector.close();
    }
  });

  it('validates the answer as a read does: one breaking its schema fails with the path, and is not sent again', async () => {
    const { connector, clients } = connect();
    try {
      await expect(clients.payments.misshapen.call({ amount: 1 }, { idempotencyKey: 'k-shape' })).rejects.toMatchObject({ code: 'UPSTREAM_CONTRACT_VIOLATION', extensions: { path: '/id' } });
      expect(received.map((r) => r.key)).toEqual(['k-shape']);
    } finally {
      await connector.close();
    }
  });

  it('refuses a batch endpoint, and a key that is not 1 to 255 visible characters, before sending anything', async () => {
    const { connector, scope } = connect();
    try {
      await expect(scope.loader('payments', 'lookup').call('ch_1')).rejects.toThrow(ConfigurationError);
      await expect(scope.loader('payments', 'charge').call({ amount: 1 }, { idempotencyKey: 'a\r\nx-injected: 1' })).rejects.toThrow(/idempotencyKey must be 1 to 255 visible ASCII characters, but received a string of 16 characters/);
      await expect(scope.loader('payments', 'charge').call({ amount: 1 }, { idempotencyKey: 'k'.repeat(256) })).rejects.toThrow(ConfigurationError);
      expect(received).toHaveLength(0);
    } finally {
      await connector.close();
    }
  });

  it('an errorDetail is checked when the upstream is defined', () => {
    const base = { name: 'p', baseUrlEnv: 'UPSTREAM_P_URL', auth: { scheme: 'none' } } as const;
    const define = (errorDetail: unknown) => () => defineUpstream({ ...base, endpoints: { w: { ...write('/w'), errorDetail } } } as unknown as Parameters<typeof defineUpstream>[0]);
    expect(define({ response: Refusal })).toThrow(/errorDetail\.pick must be a function .* but received: undefined/);
    expect(define({ pick: () => ({}) })).toThrow(/errorDetail\.response must be a TypeBox schema .* but received: undefined/);
  });
});
