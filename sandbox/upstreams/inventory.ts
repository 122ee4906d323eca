/**
 * inventory: stock by SKU, batched, and reservations that hold stock until committed, released or
 * expired (by the sandbox clock); behind an API key. What is held or committed is taken off what
 * `POST /stock/lookup` reports as `onHand` and off what can be reserved.
 */
import { randomBytes } from 'node:crypto';
import { products, stockOf } from '../data.js';
import type { StockInfo } from '../data.js';
import { apiKeyIs, API_KEY_CHALLENGE } from '../auth.js';
import { created, defineSandboxUpstream, HttpError, ok, route } from '../descriptor.js';
import type { Reply } from '../descriptor.js';
import { driftList, driftOne } from '../drift.js';
import { bad, intField, jsonBody, skuLines } from '../input.js';
import { API_KEY_SCHEME, arr, dateTime, errorResponses, IDEMPOTENCY_KEY, int, json, jsonRequest, obj, pathParam, ref, str } from '../openapi.js';

/** A reservation's lifetime when the request names none, s. */
export const DEFAULT_RESERVATION_TTL_S = 900;
/** Longest reservation lifetime accepted, s (24 h). */
export const MAX_RESERVATION_TTL_S = 86_400;

export type ReservationStatus = 'HELD' | 'COMMITTED' | 'RELEASED' | 'EXPIRED';

interface Reservation {
  reservationId: string;
  status: ReservationStatus;
  items: { sku: string; quantity: number }[];
  ttlSeconds: number;
  createdAt: number;
  expiresAt: number;
  /** When it left HELD (committed, released or expired). */
  settledAt: number | null;
  idempotencyKey: string | null;
}

const stockBySku: ReadonlyMap<string, StockInfo> = new Map(products.map((p) => [p.sku, stockOf(p)]));
const STATUSES: ReservationStatus[] = ['HELD', 'COMMITTED', 'RELEASED', 'EXPIRED'];
const iso = (ms: number): string => new Date(ms).toISOString();

const ReservationSchema = obj(
  {
    reservationId: str,
    status: { type: 'string', enum: STATUSES },
    items: arr(obj({ sku: str, quantity: int })),
    ttlSeconds: int,
    createdAt: dateTime,
    expiresAt: dateTime,
  },
  ['reservationId', 'status', 'items', 'expiresAt'],
);

export default defineSandboxUpstream({
  name: 'inventory',
  portOffset: 3,
  latencyMs: 20,
  credentials: { inventoryApiKey: { env: 'INVENTORY_API_KEY', default: 'sandbox-inventory-key' } },
  challenge: API_KEY_CHALLENGE,
  openapi: () => {
    const refusal = json('a line asks for more than is on hand (its SKU named)', obj({ message: str, sku: str }));
    const id = pathParam('id');
    return {
      security: API_KEY_SCHEME,
      schemas: {
        StockItem: obj({ sku: str, onHand: int, status: { type: 'string', enum: ['IN_STOCK', 'LOW_STOCK', 'OUT_OF_STOCK'] } }),
        Reservation: ReservationSchema,
      },
      paths: {
        '/stock/lookup': {
          post: {
            operationId: 'lookupStock',
            requestBody: jsonRequest(obj({ skus: { ...arr(str), maxItems: 100 } })),
            responses: errorResponses(true, {
              '200': json('stock in the order asked, each SKU once; unknown SKUs left out', obj({ items: arr(ref('StockItem')) })),
              '400': json('invalid body', ref('Message')),
            }),
          },
        },
        '/reservations': {
          post: {
            operationId: 'createReservation',
            parameters: [IDEMPOTENCY_KEY],
            requestBody: jsonRequest(
              obj({ items: { ...arr(obj({ sku: str, quantity: { type: 'integer', minimum: 1 } })), minItems: 1, maxItems: 100 }, ttlSeconds: { type: 'integer', minimum: 1, maximum: MAX_RESERVATION_TTL_S } }, ['items']),
            ),
            responses: errorResponses(true, {
              '201': json('the stock is held until committed, released or expired', obj({ reservationId: str, status: { const: 'HELD' }, expiresAt: dateTime, items: arr(obj({ sku: str, quantity: int })) })),
              '400': json('invalid body', ref('Message')),
              '409': refusal,
            }),
          },
        },
        '/reservations/{id}': {
          get: {
            operationId: 'getReservation',
            parameters: [id],
            responses: errorResponses(true, { '200': json('the reservation', ref('Reservation')), '404': json('unknown reservation', ref('Message')) }),
          },
          delete: {
            operationId: 'releaseReservation',
            parameters: [id, IDEMPOTENCY_KEY],
            responses: errorResponses(true, {
              '204': { description: 'released (also when unknown, released or expired)' },
              '409': json('the reservation is committed', ref('Message')),
            }),
          },
        },
        '/reservations/{id}/commit': {
          post: {
            operationId: 'commitReservation',
            parameters: [id, IDEMPOTENCY_KEY],
            responses: errorResponses(true, {
              '200': json('committed: the stock leaves for good', obj({ reservationId: str, status: { const: 'COMMITTED' } })),
              '404': json('unknown reservation', ref('Message')),
              '409': json('the reservation was released or has expired', ref('Message')),
            }),
          },
        },
      },
    };
  },
  create(host) {
    const reservations = new Map<string, Reservation>();
    /** Reservations still HELD, in creation order. */
    const heldOnes = new Set<Reservation>();
    const held = new Map<string, number>();
    const committed = new Map<string, number>();
    const add = (m: Map<string, number>, sku: string, n: number): void => {
      const v = (m.get(sku) ?? 0) + n;
      if (v === 0) m.delete(sku);
      else m.set(sku, v);
    };
    const settle = (r: Reservation, status: ReservationStatus, at: number): void => {
      r.status = status;
      r.settledAt = at;
      heldOnes.delete(r);
      for (const it of r.items) {
        add(held, it.sku, -it.quantity);
        if (status === 'COMMITTED') add(committed, it.sku, it.quantity);
      }
    };
    /** Expiry is lazy: every request first expires what the clock says is over (no timers to fake). */
    const sweep = (): void => {
      const now = host.now();
      for (const r of heldOnes) if (r.expiresAt <= now) settle(r, 'EXPIRED', r.expiresAt);
    };
    /** What can still be reserved of a SKU (0 for an unknown one). */
    const available = (sku: string): number => {
      const base = stockBySku.get(sku)?.onHand ?? 0;
      return Math.max(0, base - (held.get(sku) ?? 0) - (committed.get(sku) ?? 0));
    };
    const find = (id: string): Reservation => {
      const r = reservations.get(id);
      if (!r) throw new HttpError(404, `reservation '${id}' not found`);
      return r;
    };
    const view = (r: Reservation) => ({
      reservationId: r.reservationId,
      status: r.status,
      items: r.items,
      ttlSeconds: r.ttlSeconds,
      createdAt: iso(r.createdAt),
      expiresAt: iso(r.expiresAt),
    });
    const idempotencyKey = (h: NodeJS.Dict<string | string[]>): string | null => {
      const v = h['idempotency-key'];
      return (Array.isArray(v) ? v[0] : v) ?? null;
    };

    return {
      authorize: (ctx) => apiKeyIs(ctx, host.credentials().inventoryApiKey),
      records: () => {
        sweep();
        return {
          reservations: [...reservations.values()].map((r) => ({ ...view(r), settledAt: r.settledAt === null ? null : iso(r.settledAt), idempotencyKey: r.idempotencyKey })),
          held: Object.fromEntries(held),
          committed: Object.fromEntries(committed),
        };
      },
      routes: [
        route(
          'POST',
          '/stock/lookup',
          (ctx) => {
            const body = jsonBody(ctx);
            const skus = body.skus;
            if (!Array.isArray(skus) || skus.some((s) => typeof s !== 'string')) throw bad("'skus' must be an array of strings");
            if (skus.length > 100) throw bad(`'skus' lists ${skus.length} values; at most 100 are allowed`);
            sweep();
            const items: StockInfo[] = [];
            for (const s of new Set(skus as string[])) {
              const it = stockBySku.get(s);
              if (!it) continue;
              if (!held.has(s) && !committed.has(s)) items.push(it);
              else {
                const onHand = available(s);
                items.push({ sku: s, onHand, status: onHand === 0 ? 'OUT_OF_STOCK' : it.status });
              }
            }
            return ok({ items });
          },
          { drift: driftList('items', { rename: ['onHand', 'quantity'], type: ['onHand'], missing: 'status', extra: ['warehouse', 'main'] }) },
        ),
        route(
          'POST',
          '/reservations',
          (ctx): Reply => {
            const body = jsonBody(ctx);
            const items = skuLines(body, 'items', 100, 1).map(({ sku, quantity }) => ({ sku, quantity }));
            const ttlSeconds = body.ttlSeconds === undefined ? DEFAULT_RESERVATION_TTL_S : intField(body, 'ttlSeconds', 1, MAX_RESERVATION_TTL_S);
            sweep();
            const asked = new Map<string, number>();
            for (const it of items) asked.set(it.sku, (asked.get(it.sku) ?? 0) + it.quantity);
            for (const [sku, quantity] of asked) {
              const onHand = available(sku);
              if (quantity > onHand) return { status: 409, body: { message: `not enough stock for SKU '${sku}': ${onHand} on hand, ${quantity} asked`, sku } };
            }
            const now = host.now();
            const r: Reservation = {
              reservationId: `res_${randomBytes(12).toString('hex')}`,
              status: 'HELD',
              items,
              ttlSeconds,
              createdAt: now,
              expiresAt: now + ttlSeconds * 1000,
              settledAt: null,
              idempotencyKey: idempotencyKey(ctx.headers),
            };
            reservations.set(r.reservationId, r);
            heldOnes.add(r);
            for (const [sku, quantity] of asked) add(held, sku, quantity);
            return created({ reservationId: r.reservationId, status: r.status, expiresAt: iso(r.expiresAt), items });
          },
          { idempotent: true },
        ),
        route(
          'GET',
          '/reservations/:id',
          (ctx) => {
            sweep();
            return ok(view(find(ctx.params[0]!)));
          },
          { drift: driftOne({ rename: ['status', 'state'], type: ['ttlSeconds'], missing: 'status', extra: ['warehouse', 'main'] }) },
        ),
        route(
          'POST',
          '/reservations/:id/commit',
          (ctx) => {
            sweep();
            const r = find(ctx.params[0]!);
            if (r.status === 'HELD') settle(r, 'COMMITTED', host.now());
            if (r.status !== 'COMMITTED') return { status: 409, body: { message: `reservation '${r.reservationId}' is ${r.status}; it can no longer be committed`, status: r.status } };
            return ok({ reservationId: r.reservationId, status: r.status });
          },
          { idempotent: true },
        ),
        route(
          'DELETE',
          '/reservations/:id',
          (ctx) => {
            sweep();
            const r = reservations.get(ctx.params[0]!);
            if (r?.status === 'COMMITTED') return { status: 409, body: { message: `reservation '${r.reservationId}' is committed; it cannot be released`, status: r.status } };
            if (r?.status === 'HELD') settle(r, 'RELEASED', host.now());
            return { status: 204 };
          },
          { idempotent: true },
        ),
      ],
    };
  },
});
