/**
 * Exactly once under SIGKILL: a runner in a child process is killed at each step boundary (right after
 * the log write that boundary follows) and while the upstream holds one of its calls; a runner restarted
 * over the same log drives the instance to its outcome. From the upstream's books: nothing is half done
 * (a charge has an order or a refund, a reservation is committed or released, no order without a
 * charge) and no effect is applied twice; the same client key then answers that outcome.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkflowRunner, type Outcome } from '../src/workflow/index.js';
import { eventually } from './support/wait.js';
import { checkout, shopInvoke, startShop, type CheckoutInput, type Route, type Shop } from './support/workflow-shop.js';
import { storeSpot, type StoreKind, type StoreSpot } from './support/workflow-stores.js';

let shop: Shop;
beforeAll(async () => {
  shop = await startShop();
});
afterAll(() => shop.close());

interface Child {
  readonly events: string[];
  readonly outcome: Promise<unknown>;
  readonly exited: Promise<NodeJS.Signals | number | null>;
  kill(): void;
}

function runChild(spot: StoreSpot, owner: string, input: CheckoutInput, key: string, crashAt: string | undefined, leaseMs = 15_000): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/workflow-child.ts'], {
    env: { ...process.env, ...spot.env(), SHOP_URL: shop.url, WF_OWNER: owner, WF_INPUT: JSON.stringify(input), WF_KEY: key, WF_LEASE_MS: String(leaseMs), CRASH_AT: crashAt ?? '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const events: string[] = [];
  let resolveOutcome: (v: unknown) => void;
  const outcome = new Promise<unknown>((r) => (resolveOutcome = r));
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = JSON.parse(buffer.slice(0, nl)) as { event?: string; outcome?: unknown };
      buffer = buffer.slice(nl + 1);
      if (line.event) events.push(line.event);
      if ('outcome' in line) resolveOutcome!(line.outcome);
    }
  });
  const exited = new Promise<NodeJS.Signals | number | null>((r) => child.on('exit', (code, signal) => r(signal ?? code)));
  return { events, outcome, exited, kill: () => child.kill('SIGKILL') };
}

let n = 0;
const checkoutInput = (source = 'tok_visa'): CheckoutInput => ({ ref: `crash-${process.pid}-${++n}`, items: [{ sku: 'sku-1', quantity: 1 }], source });

/** Nothing half done, nothing twice, and the outcome agrees with the books. */
function assertBooks(ref: string, outcome: Outcome) {
  const b = shop.books(ref);
  for (const count of Object.values(b)) expect(count).toBeLessThanOrEqual(1);
  if (b.ordered === 1) {
    expect(outcome.status).toBe('completed');
    expect(b).toEqual({ reserved: 1, released: 0, charged: 1, refunded: 0, ordered: 1, committed: 1 });
  } else {
    expect(outcome.status).not.toBe('completed');
    expect(b.charged).toBe(b.refunded);
    expect(b.reserved).toBe(b.released);
    expect(b.committed).toBe(0);
  }
  return b;
}

type Case = { crashAt?: string; hold?: Route; source?: string; failOrder?: boolean; otherOwner?: boolean };

const boundaries: Case[] = [
  { crashAt: 'instanceStart' },
  { crashAt: 'stepEnd:quote' },
  ...['reserve', 'charge', 'order', 'commit'].flatMap((s) => [{ crashAt: `stepStart:${s}` }, { crashAt: `stepEnd:${s}` }]),
  { crashAt: 'compensating', source: 'tok_declined' },
  { crashAt: 'stepStart:reserve:compensate', source: 'tok_declined' },
  { crashAt: 'stepEnd:charge:compensate', failOrder: true },
  { crashAt: 'stepStart:reserve:compensate', failOrder: true },
];
const holds: Case[] = [
  { hold: 'reserve' },
  { hold: 'charge' },
  { hold: 'order' },
  { hold: 'commit' },
  { hold: 'refund', failOrder: true },
  { hold: 'release', source: 'tok_declined' },
];

const label = (c: Case) => `${c.crashAt ? `killed at ${c.crashAt}` : `killed while ${c.hold} is held`}${c.source === 'tok_declined' ? ' (declined)' : ''}${c.failOrder ? ' (order fails)' : ''}${c.otherOwner ? ' (another replica, after the lease)' : ''}`;

describe.each<[StoreKind, Case[]]>([
  ['sqlite', [...boundaries, ...holds, { crashAt: 'stepEnd:charge', otherOwner: true }]],
  ['postgres', [boundaries[5]!, boundaries[6]!, boundaries[7]!, ...holds.slice(0, 3), { hold: 'charge', otherOwner: true }]],
])('SIGKILL on %s', (kind, cases) => {
  let spot: StoreSpot;
  beforeAll(() => {
    spot = storeSpot(kind);
  });
  afterAll(() => spot.drop());

  // A child process starting under tsx takes seconds on a loaded machine: a generous budget per case.
  it.each(cases.map((c) => [label(c), c] as const))('%s: after a restart nothing is half done and nothing applied twice', { timeout: 120_000 }, async (_, c) => {
    const input = checkoutInput(c.source);
    const key = `key-${input.ref}`;
    const owner = `gateway-${input.ref}`;
    if (c.failOrder) shop.fault('order', { status: 400 });
    if (c.hold) shop.fault(c.hold, { hold: true });
    // A replica taking over waits for the dead one's lease to pass: keep it short there.
    const child = runChild(spot, owner, input, key, c.crashAt, c.otherOwner ? 500 : 15_000);
    if (c.hold) {
      await eventually(() => shop.held.get(c.hold!) === 1, `${c.hold} held`);
      child.kill();
    }
    expect(await child.exited).toBe('SIGKILL');
    if (c.crashAt) expect([c.crashAt, `${c.crashAt}:forward`]).toContain(child.events.at(-1));
    // The held call reaches the upstream after its caller died: applied, answered to nobody.
    if (c.hold) shop.release(c.hold);
    shop.fault('order', { status: 400, times: 0 });

    const runner = createWorkflowRunner({
      workflows: [checkout],
      store: spot.open(),
      invoke: shopInvoke(shop.url),
      owner: c.otherOwner ? `replica-${input.ref}` : owner,
      recoverEveryMs: 50,
      redrive: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    });
    const decisions: string[] = [];
    runner.on('recovery', (e) => decisions.push(e.decision));
    await runner.start();
    try {
      await eventually(async () => (await runner.list('in-flight')).length === 0, 'the instance is finished');
      const outcome = await runner.run('checkout', { input, userId: 'crash-user', clientKey: key });
      const b = assertBooks(input.ref, outcome);
      expect(decisions).toHaveLength(1);
      // The rule: forward past the point of no return (the order), undo before it.
      expect(decisions[0]).toBe(b.ordered === 1 ? 'forward' : outcome.status === 'failed' && outcome.code === 'WORKFLOW_INTERRUPTED' ? 'compensate' : 'resume-compensation');
      if (c.crashAt?.startsWith('stepEnd:order') || c.crashAt?.startsWith('stepStart:commit') || c.crashAt?.startsWith('stepEnd:commit') || c.hold === 'commit') {
        expect(outcome.status).toBe('completed');
      }
      if (c.source === 'tok_declined') expect(outcome).toMatchObject({ status: 'refused', code: 'PAYMENT_DECLINED' });
      if (c.failOrder) expect(outcome).toMatchObject({ status: 'failed', code: 'STEP_FAILED', step: 'order' });
      // No call was ever sent under a key not derived from this one instance.
      const instanceKeys = shop.effects.filter((e) => e.body.ref === input.ref).map((e) => e.key);
      expect(instanceKeys.every((k) => k.startsWith(`${outcome.instanceId}:`))).toBe(true);
      expect(new Set(instanceKeys).size).toBe(instanceKeys.length);
    } finally {
      await runner.close();
    }
  });
});
