import type { Resolvers } from '../generated/resolvers-types.js';

export const inventoryResolvers: Resolvers = {
  Product: {
    availability: (product, _, ctx) => ctx.upstreams.inventory.stockBySku.load(product.sku),
  },
};

export default inventoryResolvers;
