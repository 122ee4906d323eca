import type { Resolvers } from '../generated/resolvers-types.js';
import type { CatalogProduct } from '../upstreams/catalog.js';
import { intInRange } from './args.js';

export const recommendationsResolvers: Resolvers = {
  Product: {
    recommendations: async (product, { first }, ctx) => {
      intInRange('first', first, 1, 20);
      const ids = (await ctx.upstreams.recommendations.forProduct.load({ productId: product.id, limit: first })) ?? [];
      const products = await ctx.upstreams.catalog.productById.loadMany(ids);
      const found: CatalogProduct[] = [];
      for (const p of products) {
        if (p instanceof Error) throw p;
        if (p) found.push(p); // a recommended id the catalog no longer knows is left out
      }
      return found;
    },
  },
};

export default recommendationsResolvers;
