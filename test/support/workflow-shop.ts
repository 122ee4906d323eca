/**
 * A small write upstream for the workflow engine's tests (real HTTP on port 0), honouring
 * `Idempotency-Key` the usual way: the same key with the same body answers the first answer and does
 * nothing twice (a second request while the first is in progress waits for it); another body → 409.
 * It records every request and every effect applied, so tests assert from its books. Faults per route:
 * fail before applying (`status`), apply then lose the answer (`drop`: the socket is destroyed), or hold
 * the request before applying until the test releases it.
 *
 * Also the test workflow over it (`checkout`) and the `invoke` a composition root would give.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defineWorkflow, type Invoke } from '../../src/workflow/index.js';

export type Route = 'quote' | 'reserve' | 'release' | 'charge' | 'refund' | 'order' | 'commit';

export interface Effect {
  readonly route: Route;
  readonly key: string;
  readonly body: Record<string, unknown>;
  readonly id: string;
}

interface Fault {
  status?: number;
  drop?: boolean;
  hold?: boolean;
  times: number;
}

export interface Shop {
  readonly url: string;
  readonly effects: Effect[];
  readonly requests: { route: Route; key: string | undefined }[];
  /** Requests currently held, per route. */
  readonly held: Map<Route, number>;
  fault(route: Route, fault: Omit<Fault, 'times'> & { times?: number }): void;
  release(route: Route): void;
  /** The books of one checkout reference: what was applied for it. */
  books(ref: string): { reserved: number; released: number; charged: number; refunded: number; ordered: number; committed: number };
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  let s = '';
  for await (const chunk of req) s += chunk;
  return s;
}

/** Starts the shop upstream on port 0. `stock` is how many units each sku has; sku `none` has none. */
export async function startShop(): Promise<Shop> {
  const effects: Effect[] = [];
  const requests: { route: Route; key: string | undefined }[] = [];
  const held = new Map<Route, number>();
  const waiting = new Map<Route, (() => void)[]>();
  const faults = new Map<Route, Fault>();
  const byKey = new Map<string, { body: string; answer: Promise<[number, unknown]> }>();
  let seq = 0;

  /** Applies one request (no idempotency here): the shop's business rules. */
  function apply(route: Route, body: Record<string, unknown>, key: string): [number, unknown] {
    const id = `${route}-${++seq}`;
    const record = () => effects.push({ route, key, body, id });
    switch (route) {
      case 'quote':
        return [200, { totalCents: 100 * Number((body.items as unknown[])?.length ?? 0) }];
      case 'reserve':
        if ((body.items as { sku: string }[]).some((i) => i.sku === 'none')) return [409, { message: 'out of stock', sku: 'none' }];
        record();
        return [201, { reservationId: id }];
      case 'charge':
        if (body.source === 'tok_declined') return [402, { error: { code: 'card_declined' } }];
        record();
        return [201, { chargeId: id }];
      default:
        record();
        return [route === 'order' ? 201 : 200, { id }];
    }
  }

  const server = createServer(async (req, res) => {
    const route = (req.url ?? '/').split('/').pop() as Route;
    const key = req.headers['idempotency-key'] as string | undefined;
    const raw = await readBody(req);
    requests.push({ route, key });
    const fault = faults.get(route);
    let drop = false;
    if (fault && fault.times > 0) {
      fault.times--;
      drop = fault.drop === true;
      if (fault.status !== undefined) return send(res, fault.status, { message: 'injected' });
      if (fault.hold) {
        held.set(route, (held.get(route) ?? 0) + 1);
        await new Promise<void>((resolve) => (waiting.get(route) ?? waiting.set(route, []).get(route)!).push(resolve));
        held.set(route, held.get(route)! - 1);
      }
    }
    const body = JSON.parse(raw || '{}') as Record<string, unknown>;
    let answer: Promise<[number, unknown]>;
    if (key === undefined) answer = Promise.resolve(apply(route, body, ''));
    else {
      const first = byKey.get(`${route}|${key}`);
      if (first && first.body !== raw) return send(res, 409, { message: 'Idempotency-Key reused with a different body' });
      if (first) answer = first.answer;
      else {
        answer = Promise.resolve(apply(route, body, key));
        byKey.set(`${route}|${key}`, { body: raw, answer });
      }
    }
    const [status, out] = await answer;
    // Applied, answer lost: the caller cannot know whether it happened.
    if (drop) return res.socket?.destroy();
    send(res, status, out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const release = (route: Route) => {
    for (const resolve of waiting.get(route) ?? []) resolve();
    waiting.set(route, []);
  };
  const count = (route: Route, ref: string, field = 'ref') => effects.filter((e) => e.route === route && e.body[field] === ref).length;
  return {
    url,
    effects,
    requests,
    held,
    fault(route, f) {
      faults.set(route, { ...f, times: f.times ?? 1 });
    },
    release,
    books(ref) {
      return {
        reserved: count('reserve', ref),
        released: count('release', ref),
        charged: count('charge', ref),
        refunded: count('refund', ref),
        ordered: count('order', ref),
        committed: count('commit', ref),
      };
    },
    async close() {
      for (const route of waiting.keys()) release(route);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An error as the connector's write call throws one: the HTTP status and a small declared detail. */
export class ShopError extends Error {
  constructor(
    readonly status: number | undefined,
    readonly detail: Record<string, unknown> | undefined,
    readonly code: string,
  ) {
    super(`shop answered ${status ?? 'nothing'}`);
  }
}

/** The `invoke` a composition root gives the runner: here plain fetch, one path per endpoint. */
export function shopInvoke(url: string): Invoke {
  return async (upstream, endpoint, input, { idempotencyKey, signal }) => {
    let res: Response;
    try {
      res = await fetch(`${url}/${upstream}/${endpoint}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
        body: JSON.stringify(input),
        signal,
      });
    } catch (e) {
      throw new ShopError(undefined, undefined, 'UPSTREAM_UNAVAILABLE');
    }
    const body = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new ShopError(res.status, body, 'UPSTREAM_ERROR');
    return body;
  };
}

export interface CheckoutInput {
  readonly ref: string;
  readonly items: { sku: string; quantity: number }[];
  readonly source: string;
}

const status = (e: unknown) => (e as ShopError).status;

/** The test workflow: quote (read) → reserve → charge → order (the point of no return) → commit. */
export const checkout = defineWorkflow<CheckoutInput, { orderId: unknown }>({
  name: 'checkout',
  steps: [
    { name: 'quote', call: { upstream: 'shop', endpoint: 'quote' }, sideEffect: false, input: ({ input }) => ({ items: input.items }) },
    {
      name: 'reserve',
      call: { upstream: 'shop', endpoint: 'reserve' },
      input: ({ input }) => ({ ref: input.ref, items: input.items }),
      refusal: (e) => (status(e) === 409 ? { code: 'OUT_OF_STOCK', details: { sku: (e as ShopError).detail?.sku } } : undefined),
      compensate: { call: { upstream: 'shop', endpoint: 'release' }, input: ({ input, output }) => ({ ref: input.ref, reservationId: (output as { reservationId: string }).reservationId }) },
    },
    {
      name: 'charge',
      call: { upstream: 'shop', endpoint: 'charge' },
      input: ({ input, outputs }) => ({ ref: input.ref, source: input.source, amountCents: (outputs.quote as { totalCents: number }).totalCents }),
      refusal: (e) => (status(e) === 402 ? 'PAYMENT_DECLINED' : undefined),
      compensate: { call: { upstream: 'shop', endpoint: 'refund' }, input: ({ input, output }) => ({ ref: input.ref, chargeId: (output as { chargeId: string }).chargeId }) },
    },
    {
      name: 'order',
      pivot: true,
      call: { upstream: 'shop', endpoint: 'order' },
      input: ({ input, outputs }) => ({
        ref: input.ref,
        chargeId: (outputs.charge as { chargeId: string }).chargeId,
        reservationId: (outputs.reserve as { reservationId: string }).reservationId,
      }),
    },
    {
      name: 'commit',
      call: { upstream: 'shop', endpoint: 'commit' },
      input: ({ input, outputs }) => ({ ref: input.ref, reservationId: (outputs.reserve as { reservationId: string }).reservationId }),
    },
  ],
  result: ({ outputs }) => ({ orderId: (outputs.order as { id: string }).id }),
});
