/** inventory: stock by SKU, batched (at most 100 SKUs per call); a lookup sent as POST, declared retry-safe. */
import { Type, type Static } from '@sinclair/typebox';
import { batchEndpoint, defineUpstream, singleEndpoint } from '../src/connector/index.js';

const ItemSchema = Type.Object({
  sku: Type.String(),
  onHand: Type.Integer(),
  status: Type.Union([Type.Literal('IN_STOCK'), Type.Literal('LOW_STOCK'), Type.Literal('OUT_OF_STOCK')]),
});

export interface ReservationInput {
  readonly items: readonly { readonly sku: string; readonly quantity: number }[];
  /** How long the stock is held unless committed or released. */
  readonly ttlSeconds: number;
}

export interface Reservation {
  readonly reservationId: string;
  readonly expiresAt: string;
}

/** A refusal: 409 `{"message","sku"}` when a line asks for more than is on hand. */
const RefusalSchema = Type.Object({ message: Type.Optional(Type.String()), sku: Type.Optional(Type.String()) });
const refusal = { response: RefusalSchema, pick: (b: { sku?: string }) => ({ sku: b.sku ?? null }) };

/** @mapper Availability (the parent of `Availability` resolvers: codegen.ts reads this tag) */
export interface InventoryLevel {
  readonly sku: string;
  readonly status: 'IN_STOCK' | 'LOW_STOCK' | 'OUT_OF_STOCK';
  readonly quantity: number;
}

const inventory = defineUpstream({
  name: 'inventory',
  description: 'Stock levels by SKU.',
  baseUrlEnv: 'UPSTREAM_INVENTORY_URL',
  auth: { scheme: 'apiKey', header: 'X-Api-Key', key: { env: 'INVENTORY_API_KEY', sandboxDefault: 'sandbox-inventory-key' } },
  // Inventory is the slow, spiky one: hedge reads that take longer than its recent p95.
  policy: { timeoutMs: 800, hedge: { percentile: 0.95, minDelayMs: 10, maxDelayMs: 200 }, onError: 'stale' },
  endpoints: {
    stockBySku: batchEndpoint({
      method: 'POST',
      // A read that happens to be a POST: safe to send again.
      retrySafe: true,
      maxBatchSize: 100,
      request: (skus: readonly string[]) => ({ path: '/stock/lookup', body: { skus } }),
      response: Type.Object({ items: Type.Array(ItemSchema) }),
      items: (body) => body.items,
      itemKey: (i: Static<typeof ItemSchema>) => i.sku,
      map: (i): InventoryLevel => ({ sku: i.sku, status: i.status, quantity: i.onHand }),
      cardinality: 'one',
      // Stock moves: short freshness, and a stale count only while refreshing or when inventory fails.
      cache: { ttlMs: 5_000, scope: 'public', staleWhileRevalidateMs: 5_000, staleIfErrorMs: 60_000 },
    }),
    /** Holds stock for an order being placed (write: sent with an Idempotency-Key). */
    reserve: singleEndpoint({
      method: 'POST',
      request: (r: ReservationInput) => ({ path: '/reservations', body: { items: r.items, ttlSeconds: r.ttlSeconds } }),
      response: Type.Object({ reservationId: Type.String(), expiresAt: Type.String() }),
      map: (b): Reservation => ({ reservationId: b.reservationId, expiresAt: b.expiresAt }),
      errorDetail: refusal,
    }),
    /** The held stock leaves for good (the order was placed). */
    commitReservation: singleEndpoint({
      method: 'POST',
      request: (reservationId: string) => ({ path: '/reservations/:id/commit', params: { id: reservationId } }),
      response: Type.Object({ reservationId: Type.String(), status: Type.Literal('COMMITTED') }),
      map: (b) => ({ reservationId: b.reservationId }),
      errorDetail: refusal,
    }),
    /** The held stock returns (an order that failed). Idempotent: an unknown, released or expired one answers 204 too. */
    releaseReservation: singleEndpoint({
      method: 'DELETE',
      request: (reservationId: string) => ({ path: '/reservations/:id', params: { id: reservationId } }),
      response: Type.Null(), // 204 No Content
      map: () => ({ released: true }),
      errorDetail: refusal,
    }),
  },
});
export default inventory;

declare module './index.js' {
  interface Upstreams {
    inventory: typeof inventory;
  }
}
