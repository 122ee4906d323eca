/** orders: the order book. Orders are created (once per Idempotency-Key) and read back by id or by user. */
import { Type, type Static } from '@sinclair/typebox';
import { defineUpstream, singleEndpoint } from '../src/connector/index.js';

const LineSchema = Type.Object({ sku: Type.String(), quantity: Type.Integer({ minimum: 1 }), unitPriceCents: Type.Integer({ minimum: 0 }) });
const OrderSchema = Type.Object({
  id: Type.String(),
  status: Type.Literal('PLACED'),
  createdAt: Type.String(),
  userId: Type.Union([Type.String(), Type.Integer()]),
  lines: Type.Array(LineSchema),
  subtotalCents: Type.Integer({ minimum: 0 }),
  shippingCents: Type.Integer({ minimum: 0 }),
  taxCents: Type.Integer({ minimum: 0 }),
  totalCents: Type.Integer({ minimum: 0 }),
});

/** What creating an order sends: the quote's money in cents, the charge and reservation it stands on. */
export interface NewOrder {
  readonly userId: string;
  readonly lines: readonly { readonly sku: string; readonly quantity: number; readonly unitPriceCents: number }[];
  readonly subtotalCents: number;
  readonly shippingCents: number;
  readonly taxCents: number;
  readonly totalCents: number;
  readonly chargeId: string;
  readonly reservationId: string;
  readonly country: string;
  readonly postcode: string;
}

export interface PlacedOrder {
  readonly id: string;
  readonly status: 'PLACED';
  readonly createdAt: string;
}

/**
 * An order in our shape. The charge and reservation behind it are not carried: they are the
 * gateway's business, not the client's.
 * @mapper Order (the parent of `Order` resolvers: codegen.ts reads this tag)
 */
export interface OrderRecord {
  readonly id: string;
  readonly status: 'PLACED';
  readonly createdAt: string;
  readonly lines: readonly OrderLineRecord[];
  readonly subtotalCents: number;
  readonly shippingCents: number;
  readonly taxCents: number;
  readonly totalCents: number;
}

/** @mapper OrderLine (the parent of `OrderLine` resolvers: codegen.ts reads this tag) */
export interface OrderLineRecord {
  readonly sku: string;
  readonly quantity: number;
  readonly unitPriceCents: number;
  /** The catalog id, when the order was just placed (read-backs find it by SKU). */
  readonly productId?: string;
}

const toOrder = (o: Static<typeof OrderSchema>): OrderRecord => ({
  id: o.id,
  status: o.status,
  createdAt: o.createdAt,
  lines: o.lines.map((l) => ({ sku: l.sku, quantity: l.quantity, unitPriceCents: l.unitPriceCents })),
  subtotalCents: o.subtotalCents,
  shippingCents: o.shippingCents,
  taxCents: o.taxCents,
  totalCents: o.totalCents,
});

const orders = defineUpstream({
  name: 'orders',
  description: 'The order book: orders created and read back.',
  baseUrlEnv: 'UPSTREAM_ORDERS_URL',
  auth: { scheme: 'apiKey', header: 'X-Api-Key', key: { env: 'ORDERS_API_KEY', sandboxDefault: 'sandbox-orders-key' } },
  policy: { timeoutMs: 2_000 },
  // Orders hold what a user bought: never in a debug trace.
  sensitiveFields: ['userId', 'chargeId', 'reservationId', 'postcode'],
  endpoints: {
    create: singleEndpoint({
      method: 'POST',
      request: (o: NewOrder) => ({ path: '/orders', body: o }),
      response: Type.Object({ id: Type.String(), status: Type.Literal('PLACED'), createdAt: Type.String() }),
      map: (b): PlacedOrder => ({ id: b.id, status: b.status, createdAt: b.createdAt }),
    }),
    /** A user's orders, newest first. Never cached: an order just placed must show at once. */
    byUser: singleEndpoint({
      method: 'GET',
      request: (k: { readonly userId: string; readonly limit: number }) => ({ path: '/orders', query: { userId: k.userId, limit: k.limit } }),
      response: Type.Object({ orders: Type.Array(OrderSchema) }),
      map: (b) => b.orders.map(toOrder),
      keyId: (k) => `${k.userId}:${k.limit}`,
    }),
  },
});
export default orders;

declare module './index.js' {
  interface Upstreams {
    orders: typeof orders;
  }
}
