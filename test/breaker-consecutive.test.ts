/**
 * The breaker also opens on failures in a row (issue: after healthy traffic at ~10 % failures, a
 * hard-down upstream did not open a ratio-only breaker, whose window still held the earlier
 * successes). Real sandbox upstream, faults and counts through its admin routes (/__faults, /__stats).
 * No time passes that matters: the breaker's half-open delay is far longer than the test.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type Sandbox } from '../sandbox/index.js';
import { Connector, Telemetry, withPolicy, type BreakerPolicyInput } from '../src/connector/index.js';
import inventory from '../upstreams/inventory.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({ portBase: 0, seed: 7, latencyMs: { inventory: 1 } });
});
afterAll(async () => {
  await sandbox?.close();
});

const admin = (path: string, init?: RequestInit) => fetch(`${sandbox.urls.inventory}${path}`, init);
const setFaults = async (spec: object | null) => {
  const res = await admin('/__faults', spec ? { method: 'POST', body: JSON.stringify(spec) } : { method: 'DELETE' });
  expect(res.ok).toBe(true);
  await res.arrayBuffer();
};
const stats = async () => (await (await admin('/__stats')).json()) as { total: number; requests: { status: number }[] };

afterEach(async () => {
  await setFaults(null);
  await (await admin('/__stats', { method: 'DELETE' })).arrayBuffer();
});

/** Inventory with one attempt per query (every call the breaker sees is one the upstream received) and a long half-open delay. */
function connectorWith(breaker: BreakerPolicyInput) {
  const def = withPolicy(inventory, { retry: { attempts: 1 }, hedge: false, breaker: { failureRatio: 0.5, windowMs: 60_000, minimumCalls: 20, halfOpenAfterMs: 600_000, ...breaker } });
  const connector = new Connector({ upstreams: [def], env: {}, baseUrls: sandbox.urls, sandboxMode: true, cache: null, telemetry: new Telemetry() });
  let n = 0;
  /** One query: its own request scope, one stock lookup; resolves to the error code and reason, or 'ok'. */
  const query = async (): Promise<string> => {
    const scope = connector.scope({ requestId: `q${n}`, user: null, deadline: performance.now() + 10_000 });
    try {
      await scope.loader('inventory', 'stockBySku').load(`SKU-${n++}`);
      return 'ok';
    } catch (e) {
      const err = e as { code?: string; extensions?: { reason?: string } };
      return err.extensions?.reason === 'breaker' ? 'breaker' : (err.code ?? 'error');
    }
  };
  return { connector, query };
}

/** 120 queries at ~10 % 503s, then the upstream goes 100 % down; returns what the upstream received in each phase. */
async function healthyThenDown(query: () => Promise<string>, downQueries: number) {
  await setFaults({ error: { probability: 0.1, status: 503 } });
  const healthy: string[] = [];
  for (let i = 0; i < 120; i++) healthy.push(await query());
  const before = await stats();
  // Failures at the end of the healthy phase already count towards a run.
  let trailing = 0;
  for (let i = before.requests.length - 1; i >= 0 && before.requests[i]!.status === 503; i--) trailing++;
  await setFaults({ error: { probability: 1, status: 503 } });
  const down: string[] = [];
  for (let i = 0; i < downQueries; i++) down.push(await query());
  const after = await stats();
  return { healthy, before, trailing, down, reachedWhileDown: after.total - before.total };
}

describe('breaker: consecutive failures', () => {
  it('a ratio-only breaker stays closed when the upstream goes hard down after healthy traffic (the finding)', async () => {
    const { connector, query } = connectorWith({ consecutiveFailures: false });
    try {
      const r = await healthyThenDown(query, 30);
      expect(r.before.total).toBe(120);
      expect(r.healthy.filter((x) => x !== 'ok').length).toBeGreaterThan(0);
      // Every one of the 30 queries still reached the failing upstream.
      expect(r.reachedWhileDown).toBe(30);
      expect(r.down.every((x) => x === 'UPSTREAM_ERROR')).toBe(true);
      expect(connector.breakerState('inventory')).toBe('closed');
    } finally {
      await connector.close();
    }
  });

  it('with consecutiveFailures: 5 it opens after 5 failures in a row, and later queries do not reach the upstream', async () => {
    const { connector, query } = connectorWith({ consecutiveFailures: 5 });
    try {
      const r = await healthyThenDown(query, 30);
      // Healthy traffic at ~10 % failures never made 5 in a row: the breaker stayed closed throughout it.
      expect(r.before.total).toBe(120);
      expect(r.healthy.filter((x) => x !== 'ok').length).toBeGreaterThan(0);
      expect(r.healthy).not.toContain('breaker');
      expect(r.trailing).toBeLessThan(5);
      // Down: the run completes at 5 failures in a row; no query after it reaches inventory.
      const failing = 5 - r.trailing;
      expect(r.reachedWhileDown).toBe(failing);
      expect(r.down.slice(0, failing).every((x) => x === 'UPSTREAM_ERROR')).toBe(true);
      expect(r.down.slice(failing)).toEqual(new Array(30 - failing).fill('breaker'));
      expect(connector.breakerState('inventory')).toBe('open');
    } finally {
      await connector.close();
    }
  });

  it('a success in between starts the count again', async () => {
    const { connector, query } = connectorWith({ consecutiveFailures: 3 });
    try {
      await setFaults({ error: { probability: 1, status: 503 } });
      expect([await query(), await query()]).toEqual(['UPSTREAM_ERROR', 'UPSTREAM_ERROR']);
      await setFaults(null);
      expect(await query()).toBe('ok');
      await setFaults({ error: { probability: 1, status: 503 } });
      expect([await query(), await query()]).toEqual(['UPSTREAM_ERROR', 'UPSTREAM_ERROR']);
      expect(connector.breakerState('inventory')).toBe('closed');
      expect(await query()).toBe('UPSTREAM_ERROR');
      expect(connector.breakerState('inventory')).toBe('open');
      expect(await query()).toBe('breaker');
      expect((await stats()).total).toBe(6);
    } finally {
      await connector.close();
    }
  });
});
