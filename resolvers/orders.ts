import { GraphQLError } from 'graphql';
import type { Resolvers } from '../generated/resolvers-types.js';
import { BadUserInputError } from '../src/errors.js';
import type { Outcome } from '../src/workflow/index.js';
import type { OrderLineRecord, OrderRecord } from '../upstreams/orders.js';
import type { PlaceOrderResult, PlaceOrderWork } from '../workflows/place-order.js';
import { intInRange } from './args.js';
import { quoteCart, unitPriceCents } from './checkout.js';
import type { ResolverContext } from './context.js';
import { addCents, fromCents, mulCents } from './money.js';

/** Visible ASCII, at most 200 characters: what a client may use as an idempotency key. */
const CLIENT_KEY = /^[\x21-\x7e]{1,200}$/;

/**
 * `placeOrder`'s payload: the order, or the error that refused it (thrown by `order`, so the error's
 * path is `placeOrder.order` and the payload itself is never null).
 * @mapper PlaceOrderPayload (the parent of `PlaceOrderPayload` resolvers: codegen.ts reads this tag)
 */
export interface PlaceOrderPayloadParent {
  readonly order: OrderRecord | Error;
}

const refused = (message: string, code: string, extensions: Record<string, unknown> = {}) => new GraphQLError(message, { extensions: { ...extensions, code } });

/** The client's answer for a workflow's outcome (see `PlaceOrderPayload` in schema/orders.graphql). */
async function orderOf(ctx: ResolverContext, outcome: Outcome, lines: readonly { productId: string }[]): Promise<OrderRecord> {
  if (outcome.status === 'completed') return (outcome.output as PlaceOrderResult).order;
  if (outcome.status === 'refused') {
    if (outcome.code === 'OUT_OF_STOCK') {
      // The upstream names the SKU; the client named products: find the line.
      const products = await Promise.all(lines.map((l) => ctx.upstreams.catalog.productById.load(l.productId).catch(() => null)));
      const line = products.findIndex((p) => p !== null && p.sku === outcome.details?.sku);
      throw refused(line >= 0 ? `Line ${line + 1}: not enough stock.` : 'A line asks for more than is in stock.', 'OUT_OF_STOCK', line >= 0 ? { line } : {});
    }
    if (outcome.code === 'PAYMENT_DECLINED') throw refused('The payment was declined; nothing was charged and no stock is held.', 'PAYMENT_DECLINED');
    throw refused('The order was refused.', outcome.code);
  }
  // Failed for good (or interrupted): every side effect was undone before this answer.
  throw refused('The order could not be placed; nothing was charged and no stock is held.', 'ORDER_FAILED', outcome.upstream ? { upstream: outcome.upstream, endpoint: outcome.endpoint } : {});
}

type PlaceOrderArgs = { lines: readonly { productId: string; quantity: number }[]; country: string; postcode: string; paymentToken: string; idempotencyKey: string };

async function placeOrder(ctx: ResolverContext, input: PlaceOrderArgs): Promise<OrderRecord> {
  const user = ctx.user;
  if (!user) throw refused('Placing an order needs a signed-in user.', 'UNAUTHENTICATED');
  if (!CLIENT_KEY.test(input.idempotencyKey)) throw new BadUserInputError('"idempotencyKey" must be 1 to 200 visible ASCII characters.', { argument: 'idempotencyKey' });
  if (!/^[\x21-\x7e]{1,100}$/.test(input.paymentToken)) throw new BadUserInputError('"paymentToken" must be 1 to 100 visible ASCII characters.', { argument: 'paymentToken' });
  // The key is bound to what the client asked for; the cart is priced only for a key not seen before.
  const { idempotencyKey, ...request } = input;
  const outcome = await ctx.workflows.run('placeOrder', {
    input: request,
    clientKey: idempotencyKey,
    prepare: async (): Promise<PlaceOrderWork> => {
      const quote = await quoteCart(ctx, input);
      const [prices, subtotalCents, shippingCents, taxCents] = await Promise.all([
        Promise.all(quote.lines.map((l) => unitPriceCents(ctx, l.product))),
        quote.subtotalCents(),
        quote.shippingCents(),
        quote.taxCents(),
      ]);
      return {
        userId: user.id,
        lines: quote.lines.map((l, i) => ({ productId: l.product.id, sku: l.product.sku, quantity: l.quantity, unitPriceCents: prices[i]! })),
        subtotalCents,
        shippingCents,
        taxCents,
        totalCents: addCents(subtotalCents, shippingCents, taxCents),
        country: quote.country,
        postcode: quote.postcode,
        paymentToken: input.paymentToken,
      };
    },
  });
  return orderOf(ctx, outcome, input.lines);
}

export const ordersResolvers: Resolvers = {
  Mutation: {
    // Awaited here, so the whole workflow runs while this field resolves (traces, the perimeter probe).
    placeOrder: async (_, { input }, ctx) => ({ order: await placeOrder(ctx, input).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))) }),
  },
  PlaceOrderPayload: {
    order: (p) => {
      if (p.order instanceof Error) throw p.order;
      return p.order;
    },
  },
  Viewer: {
    orders: async (viewer, { first }, ctx) => {
      intInRange('first', first, 1, 50);
      return (await ctx.upstreams.orders.byUser.load({ userId: viewer.id, limit: first })) ?? [];
    },
  },
  Order: {
    lines: (o) => o.lines as OrderLineRecord[],
    subtotal: (o) => fromCents(o.subtotalCents),
    shipping: (o) => fromCents(o.shippingCents),
    tax: (o) => fromCents(o.taxCents),
    total: (o) => fromCents(o.totalCents),
  },
  OrderLine: {
    product: async (l, _, ctx) => {
      const id = l.productId ?? (await ctx.upstreams.catalog.productIdsBySku.load('all'))?.[l.sku];
      return id === undefined ? null : ctx.upstreams.catalog.productById.load(id);
    },
    unitPrice: (l) => fromCents(l.unitPriceCents),
    lineTotal: (l) => fromCents(mulCents(l.unitPriceCents, l.quantity)),
  },
};

export default ordersResolvers;
