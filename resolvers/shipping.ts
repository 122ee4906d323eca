import type { Resolvers } from '../generated/resolvers-types.js';
import { countryCode, postcode } from './args.js';
import { money } from './money.js';

export const shippingResolvers: Resolvers = {
  Product: {
    shippingEstimate: async (product, args, ctx) => {
      const quote = await ctx.upstreams.shipping.quote.load({
        country: countryCode(args.country),
        postcode: postcode(args.postcode),
        items: [{ sku: product.sku, quantity: 1 }],
      });
      return quote?.lines.find((l) => l.sku === product.sku) ?? null;
    },
  },
  ShippingEstimate: {
    cost: (line) => money(line.cost),
  },
};

export default shippingResolvers;
