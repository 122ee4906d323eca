/**
 * placeOrder: the shop's checkout write, as data the workflow engine runs (src/workflow). The cart is
 * quoted first (by the resolver, as `checkoutQuote`), then:
 *
 *   reserve stock → charge the card → create the order (the point of no return) → commit the stock
 *
 * A refusal or failure before the order exists undoes what was done, newest first: the charge is
 * refunded, the reservation released. Once the order exists the workflow only goes forward.
 * Every call carries an Idempotency-Key derived from the instance and the step.
 */
import { isUpstreamRefused } from '../src/connector/index.js';
import { defineWorkflow, type Refusal } from '../src/workflow/index.js';
import type { Charge } from '../upstreams/payments.js';
import type { NewOrder, OrderRecord, PlacedOrder } from '../upstreams/orders.js';
import type { Reservation } from '../upstreams/inventory.js';

/** Stock is held this long: past any recovery after a crash (leases of seconds), short enough to come back by itself. */
const RESERVATION_TTL_S = 15 * 60;

/** The workflow's input: the client's cart as quoted, in cents, and who pays. */
export interface PlaceOrderWork {
  readonly userId: string;
  readonly lines: readonly { readonly productId: string; readonly sku: string; readonly quantity: number; readonly unitPriceCents: number }[];
  readonly subtotalCents: number;
  readonly shippingCents: number;
  readonly taxCents: number;
  readonly totalCents: number;
  readonly country: string;
  readonly postcode: string;
  readonly paymentToken: string;
}

/** The order as placed: the orders upstream's answer with the quoted lines and money (kept with the outcome, so a replay answers it whole). */
export interface PlaceOrderResult {
  readonly order: OrderRecord;
}

/** The refusal an upstream answered (a 4xx with its declared detail), if this error is one. */
function refusedWith(e: unknown, status: number): Readonly<Record<string, unknown>> | undefined {
  return isUpstreamRefused(e) && e.status === status ? (e.detail ?? {}) : undefined;
}

export default defineWorkflow<PlaceOrderWork, PlaceOrderResult>({
  name: 'placeOrder',
  steps: [
    {
      name: 'reserve',
      call: { upstream: 'inventory', endpoint: 'reserve' },
      input: ({ input }) => {
        // One item per SKU: two lines naming the same product are held together.
        const qty = new Map<string, number>();
        for (const l of input.lines) qty.set(l.sku, (qty.get(l.sku) ?? 0) + l.quantity);
        return { items: [...qty].map(([sku, quantity]) => ({ sku, quantity })), ttlSeconds: RESERVATION_TTL_S };
      },
      refusal: (e): Refusal | undefined => {
        const detail = refusedWith(e, 409);
        return detail ? { code: 'OUT_OF_STOCK', details: { sku: detail.sku ?? null } } : undefined;
      },
      compensate: { call: { upstream: 'inventory', endpoint: 'releaseReservation' }, input: ({ output }) => (output as Reservation).reservationId },
    },
    {
      name: 'charge',
      call: { upstream: 'payments', endpoint: 'charge' },
      input: ({ input, instanceId }) => ({ amountCents: input.totalCents, source: input.paymentToken, description: `Order ${instanceId}` }),
      refusal: (e): Refusal | undefined => {
        const detail = refusedWith(e, 402);
        return detail ? { code: 'PAYMENT_DECLINED', details: { reason: detail.code ?? null } } : undefined;
      },
      compensate: { call: { upstream: 'payments', endpoint: 'refund' }, input: ({ output }) => (output as Charge).id },
    },
    {
      name: 'createOrder',
      call: { upstream: 'orders', endpoint: 'create' },
      pivot: true,
      input: ({ input, outputs }): NewOrder => ({
        userId: input.userId,
        lines: input.lines.map((l) => ({ sku: l.sku, quantity: l.quantity, unitPriceCents: l.unitPriceCents })),
        subtotalCents: input.subtotalCents,
        shippingCents: input.shippingCents,
        taxCents: input.taxCents,
        totalCents: input.totalCents,
        chargeId: (outputs.charge as Charge).id,
        reservationId: (outputs.reserve as Reservation).reservationId,
        country: input.country,
        postcode: input.postcode,
      }),
    },
    {
      name: 'commitStock',
      call: { upstream: 'inventory', endpoint: 'commitReservation' },
      input: ({ outputs }) => (outputs.reserve as Reservation).reservationId,
    },
  ],
  result: ({ input, outputs }) => {
    const placed = outputs.createOrder as PlacedOrder;
    return {
      order: {
        id: placed.id,
        status: placed.status,
        createdAt: placed.createdAt,
        lines: input.lines.map((l) => ({ sku: l.sku, quantity: l.quantity, unitPriceCents: l.unitPriceCents, productId: l.productId })),
        subtotalCents: input.subtotalCents,
        shippingCents: input.shippingCents,
        taxCents: input.taxCents,
        totalCents: input.totalCents,
      },
    };
  },
});
