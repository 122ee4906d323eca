import type { Resolvers } from '../generated/resolvers-types.js';
import { BadUserInputError, UpstreamHttpError } from '../src/errors.js';
import type { CatalogProduct } from '../upstreams/catalog.js';
import type { PricingPrice } from '../upstreams/pricing.js';
import { countryCode, postcode } from './args.js';
import type { ResolverContext } from './context.js';
import { addCents, centsToDollars, fromCents, mulCents, toCents } from './money.js';

/** @mapper CheckoutLine (the parent of `CheckoutLine` resolvers: codegen.ts reads this tag) */
export interface CheckoutLineParent {
  readonly product: CatalogProduct;
  readonly quantity: number;
}

/**
 * A quote's parts are computed once, lazily, whatever fields ask for them.
 * @mapper CheckoutQuote (the parent of `CheckoutQuote` resolvers: codegen.ts reads this tag)
 */
export interface CheckoutQuoteParent {
  readonly lines: readonly CheckoutLineParent[];
  readonly subtotalCents: () => Promise<number>;
  readonly shippingCents: () => Promise<number>;
  readonly taxCents: () => Promise<number>;
}

/** Most lines of one quote (documented on `checkoutQuote`). */
export const MAX_LINES = 100;
/**
 * Most units on one line (documented on `CartLineInput.quantity`). With at most `MAX_LINES` lines a
 * cart holds at most 1,000,000 units, so any unit price below $90 million keeps the subtotal exact in
 * integer cents (past that the quote is refused rather than rounded).
 */
export const MAX_QUANTITY = 10_000;

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

async function unitPrice(ctx: ResolverContext, product: CatalogProduct): Promise<PricingPrice> {
  const price = await ctx.upstreams.pricing.pricesBySku.load(product.sku);
  if (!price) throw new UpstreamHttpError({ upstream: 'pricing', endpoint: 'pricesBySku' }, `has no price for product "${product.id}"`);
  return price;
}

/** A cart as clients send it (`checkoutQuote`'s arguments, `PlaceOrderInput`'s cart). */
export interface CartArgs {
  readonly lines: readonly { readonly productId: string; readonly quantity: number }[];
  readonly country: string;
  readonly postcode: string;
}

/**
 * Prices a cart: lines checked (BAD_USER_INPUT naming the line), products loaded; subtotal, shipping
 * and tax computed once each, when first asked for. Used by `checkoutQuote` and by `placeOrder`.
 */
export async function quoteCart(ctx: ResolverContext, args: CartArgs): Promise<CheckoutQuoteParent & { readonly country: string; readonly postcode: string }> {
  if (args.lines.length === 0 || args.lines.length > MAX_LINES) {
    throw new BadUserInputError(`"lines" must hold 1 to ${MAX_LINES} lines (got ${args.lines.length}).`, { argument: 'lines' });
  }
  args.lines.forEach((line, i) => {
    if (!Number.isInteger(line.quantity) || line.quantity < 1 || line.quantity > MAX_QUANTITY) {
      throw new BadUserInputError(`Line ${i + 1}: quantity must be from 1 to ${MAX_QUANTITY} (got ${line.quantity}).`, { line: i });
    }
  });
  const country = countryCode(args.country);
  const code = postcode(args.postcode);
  const products = await Promise.all(args.lines.map((l) => ctx.upstreams.catalog.productById.load(l.productId)));
  const lines = args.lines.map((line, i): CheckoutLineParent => {
    const product = products[i];
    if (!product) {
      throw new BadUserInputError(`Line ${i + 1}: product "${line.productId}" does not exist.`, { line: i, productId: line.productId });
    }
    return { product, quantity: line.quantity };
  });

  const subtotalCents = once(async () => {
    const prices = await Promise.all(lines.map((l) => unitPrice(ctx, l.product)));
    return addCents(...lines.map((l, i) => mulCents(toCents(prices[i]!.sale), l.quantity)));
  });
  const shippingCents = once(async () => {
    // One item per SKU: two lines naming the same product ship together.
    const qty = new Map<string, number>();
    for (const l of lines) qty.set(l.product.sku, (qty.get(l.product.sku) ?? 0) + l.quantity);
    const items = [...qty].map(([sku, quantity]) => ({ sku, quantity }));
    const quote = await ctx.upstreams.shipping.quote.load({ country, postcode: code, items });
    if (!quote) throw new UpstreamHttpError({ upstream: 'shipping', endpoint: 'quote' }, 'gave no quote');
    return toCents(quote.total);
  });
  const taxCents = once(async () => {
    const subtotal = await subtotalCents();
    const quote = await ctx.upstreams.tax.quote.load({ country, postcode: code, amount: centsToDollars(subtotal) });
    if (!quote) throw new UpstreamHttpError({ upstream: 'tax', endpoint: 'quote' }, 'gave no quote');
    return toCents(quote.tax);
  });
  return { lines, subtotalCents, shippingCents, taxCents, country, postcode: code };
}

/** What a line's unit costs, in cents (its sale price). */
export async function unitPriceCents(ctx: ResolverContext, product: CatalogProduct): Promise<number> {
  return toCents((await unitPrice(ctx, product)).sale);
}

export const checkoutResolvers: Resolvers = {
  Query: {
    checkoutQuote: (_, args, ctx) => quoteCart(ctx, args),
  },
  CheckoutQuote: {
    lines: (q) => q.lines as CheckoutLineParent[],
    subtotal: async (q) => fromCents(await q.subtotalCents()),
    shipping: async (q) => fromCents(await q.shippingCents()),
    tax: async (q) => fromCents(await q.taxCents()),
    total: async (q) => {
      const [a, b, c] = await Promise.all([q.subtotalCents(), q.shippingCents(), q.taxCents()]);
      return fromCents(addCents(a, b, c));
    },
  },
  CheckoutLine: {
    product: (l) => l.product,
    quantity: (l) => l.quantity,
    unitPrice: async (l, _, ctx) => fromCents(await unitPriceCents(ctx, l.product)),
    lineTotal: async (l, _, ctx) => fromCents(mulCents(await unitPriceCents(ctx, l.product), l.quantity)),
    availability: (l, _, ctx) => ctx.upstreams.inventory.stockBySku.load(l.product.sku),
  },
};

export default checkoutResolvers;
