import type { Resolvers } from '../generated/resolvers-types.js';
import { money } from './money.js';

export const pricingResolvers: Resolvers = {
  Product: {
    price: (product, _, ctx) => ctx.upstreams.pricing.pricesBySku.load(product.sku),
  },
  Price: {
    sale: (p) => money(p.sale, p.currency),
    list: (p) => money(p.list, p.currency),
    discountPercentage: (p) => p.discountPercentage,
  },
};

export default pricingResolvers;
