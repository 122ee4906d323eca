import type { Resolvers } from '../generated/resolvers-types.js';
import { intInRange } from './args.js';

export const reviewsResolvers: Resolvers = {
  Product: {
    reviews: async (product, { first }, ctx) => {
      intInRange('first', first, 0, 100);
      const all = await ctx.upstreams.reviews.reviewsByProductId.load(product.id);
      return all.slice(0, first);
    },
  },
};

export default reviewsResolvers;
