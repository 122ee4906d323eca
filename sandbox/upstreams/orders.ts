/** orders: the shop's order book (placed orders, read back by id or by user), behind an API key. */
import { randomBytes } from 'node:crypto';
import { apiKeyIs, API_KEY_CHALLENGE } from '../auth.js';
import { created, defineSandboxUpstream, HttpError, ok, route } from '../descriptor.js';
import type { Ctx, Reply } from '../descriptor.js';
import { driftList, driftOne } from '../drift.js';
import type { RecordDrift } from '../drift.js';
import { bad, countryField, intField, intParam, isObj, jsonBody, postcodeField, single, stringField } from '../input.js';
import { carts, priceOf, productById, shippingQuote, taxQuote } from '../data.js';
import { API_KEY_SCHEME, arr, dateTime, errorResponses, IDEMPOTENCY_KEY, int, json, jsonRequest, obj, pathParam, qp, ref, str } from '../openapi.js';

/** Largest money field accepted, cents. */
const MAX_CENTS = 100_000_000_00;
/** Most lines in one order. */
const MAX_LINES = 100;

interface Line {
  sku: string;
  quantity: number;
  unitPriceCents: number;
}

interface Order {
  id: string;
  status: 'PLACED';
  createdAt: string;
  userId: string | number;
  lines: Line[];
  subtotalCents: number;
  shippingCents: number;
  taxCents: number;
  totalCents: number;
  chargeId: string;
  reservationId: string;
  country: string;
  postcode: string;
}

const DRIFT: RecordDrift = { rename: ['totalCents', 'total'], type: ['totalCents'], missing: 'createdAt', extra: ['channel', 'web'] };

const OrderSchema = obj({
  id: str,
  status: { const: 'PLACED' },
  createdAt: dateTime,
  userId: { type: ['string', 'integer'] },
  lines: arr(obj({ sku: str, quantity: int, unitPriceCents: int })),
  subtotalCents: int,
  shippingCents: int,
  taxCents: int,
  totalCents: int,
  chargeId: str,
  reservationId: str,
  country: str,
  postcode: str,
});

function userIdOf(v: unknown): string | number {
  if ((typeof v === 'number' && Number.isSafeInteger(v) && v > 0) || (typeof v === 'string' && v !== '' && v.length <= 100)) return v;
  throw bad("'userId' must be a positive integer or a non-empty string");
}

function linesOf(v: unknown): Line[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_LINES) throw bad(`'lines' must be an array of 1 to ${MAX_LINES} {sku, quantity, unitPriceCents}`);
  return v.map((l: unknown) => {
    if (!isObj(l)) throw bad("each line must be an object {sku, quantity, unitPriceCents}");
    return { sku: stringField(l, 'sku'), quantity: intField(l, 'quantity', 1, 1_000_000), unitPriceCents: intField(l, 'unitPriceCents', 0, MAX_CENTS) };
  });
}

/** Validates a new order: its money must add up (subtotal = Σ unit × quantity; total = subtotal + shipping + tax). */
function orderOf(ctx: Ctx): Omit<Order, 'id' | 'status' | 'createdAt'> {
  const body = jsonBody(ctx);
  const lines = linesOf(body.lines);
  const money = (name: string) => intField(body, name, 0, MAX_CENTS);
  const o = {
    userId: userIdOf(body.userId),
    lines,
    subtotalCents: money('subtotalCents'),
    shippingCents: money('shippingCents'),
    taxCents: money('taxCents'),
    totalCents: money('totalCents'),
    chargeId: stringField(body, 'chargeId'),
    reservationId: stringField(body, 'reservationId'),
    country: countryField(body),
    postcode: postcodeField(body),
  };
  const subtotal = lines.reduce((s, l) => s + l.unitPriceCents * l.quantity, 0);
  if (subtotal !== o.subtotalCents) throw bad(`'subtotalCents' is ${o.subtotalCents} but the lines add up to ${subtotal}`);
  if (o.subtotalCents + o.shippingCents + o.taxCents !== o.totalCents) {
    throw bad(`'totalCents' is ${o.totalCents} but subtotal + shipping + tax is ${o.subtotalCents + o.shippingCents + o.taxCents}`);
  }
  return o;
}

const cents = (dollars: number) => Math.round(dollars * 100);

/**
 * The order book's history: each cart of the data set read as an order its user placed in 2025
 * (sale prices by the data rules, shipping by the shipping rules, US tax), so `GET /orders?userId=`
 * has something to show before anything is placed. Not in `/__records` (the books of what was
 * placed through the API).
 */
function historyOrders(): Order[] {
  return carts.map((cart) => {
    const lines = cart.products
      .filter((p) => productById.has(p.id))
      .map((p) => ({ sku: productById.get(p.id)!.sku, quantity: p.quantity, unitPriceCents: cents(priceOf(productById.get(p.id)!).sale) }));
    const subtotalCents = lines.reduce((s, l) => s + l.unitPriceCents * l.quantity, 0);
    const shippingCents = cents(shippingQuote(lines).total);
    const taxCents = cents(taxQuote('US', subtotalCents / 100).tax);
    return {
      id: `ord_cart_${cart.id}`,
      status: 'PLACED',
      createdAt: new Date(Date.UTC(2025, 0, 1) + cart.id * 86_400_000).toISOString(),
      userId: cart.userId,
      lines,
      subtotalCents,
      shippingCents,
      taxCents,
      totalCents: subtotalCents + shippingCents + taxCents,
      chargeId: `ch_cart_${cart.id}`,
      reservationId: `res_cart_${cart.id}`,
      country: 'US',
      postcode: '10001',
    };
  });
}

export default defineSandboxUpstream({
  name: 'orders',
  portOffset: 10,
  latencyMs: 20,
  credentials: { ordersApiKey: { env: 'ORDERS_API_KEY', default: 'sandbox-orders-key' } },
  challenge: API_KEY_CHALLENGE,
  openapi: () => ({
    security: API_KEY_SCHEME,
    schemas: { Order: OrderSchema },
    paths: {
      '/orders': {
        post: {
          operationId: 'placeOrder',
          parameters: [IDEMPOTENCY_KEY],
          requestBody: jsonRequest({ ...OrderSchema, required: (OrderSchema.required as string[]).filter((k) => !['id', 'status', 'createdAt'].includes(k)) }),
          responses: errorResponses(true, {
            '201': json('the order is placed', obj({ id: str, status: { const: 'PLACED' }, createdAt: dateTime })),
            '400': json('invalid body (money that does not add up included)', ref('Message')),
            '409': json('Idempotency-Key reused with a different body', ref('Message')),
          }),
        },
        get: {
          operationId: 'listOrders',
          parameters: [qp('userId', "the user's orders", str, true), qp('limit', 'at most this many (default all)', { type: 'integer', minimum: 1, maximum: 1000 })],
          responses: errorResponses(true, { '200': json("the user's orders, newest first", obj({ orders: arr(ref('Order')) })), '400': json('missing userId', ref('Message')) }),
        },
      },
      '/orders/{id}': {
        get: {
          operationId: 'getOrder',
          parameters: [pathParam('id')],
          responses: errorResponses(true, { '200': json('the order', ref('Order')), '404': json('unknown order', ref('Message')) }),
        },
      },
    },
  }),
  create(host) {
    const orders = new Map<string, Order>();
    /** Per user id (as a string), their orders oldest first. */
    const byUser = new Map<string, Order[]>();
    const history = historyOrders();
    for (const o of history) {
      orders.set(o.id, o);
      byUser.set(String(o.userId), [...(byUser.get(String(o.userId)) ?? []), o]);
    }
    const seeded = new Set(history.map((o) => o.id));
    return {
      authorize: (ctx) => apiKeyIs(ctx, host.credentials().ordersApiKey),
      records: () => ({ orders: [...orders.values()].filter((o) => !seeded.has(o.id)), history: seeded.size }),
      routes: [
        route(
          'POST',
          '/orders',
          (ctx): Reply => {
            const o: Order = { id: `ord_${randomBytes(12).toString('hex')}`, status: 'PLACED', createdAt: new Date(host.now()).toISOString(), ...orderOf(ctx) };
            orders.set(o.id, o);
            const mine = byUser.get(String(o.userId)) ?? [];
            mine.push(o);
            byUser.set(String(o.userId), mine);
            return created({ id: o.id, status: o.status, createdAt: o.createdAt });
          },
          { idempotent: true },
        ),
        route(
          'GET',
          '/orders',
          (ctx) => {
            const userId = single(ctx.query, 'userId');
            if (userId === undefined || userId === '') throw bad("query parameter 'userId' is required");
            const limit = intParam(ctx.query, 'limit', 0, 1, 1000);
            // Placed in order, so newest first is the reverse (orders placed in one clock ms keep their order).
            const newest = [...(byUser.get(userId) ?? [])].reverse();
            return ok({ orders: limit === 0 ? newest : newest.slice(0, limit) });
          },
          { drift: driftList('orders', DRIFT) },
        ),
        route(
          'GET',
          '/orders/:id',
          (ctx) => {
            const o = orders.get(ctx.params[0]!);
            if (!o) throw new HttpError(404, `order '${ctx.params[0]}' not found`);
            return ok(o);
          },
          { drift: driftOne(DRIFT) },
        ),
      ],
    };
  },
});
