import type { Resolvers } from '../generated/resolvers-types.js';
import { BadUserInputError } from '../src/errors.js';
import { projectSelection, withRequirements } from '../src/projection.js';
import { PRODUCT_PROJECTION, type CatalogProduct } from '../upstreams/catalog.js';
import { intInRange } from './args.js';

/**
 * A page of a category, fetched once however many of its fields are asked for.
 * @mapper ProductConnection (the parent of `ProductConnection` resolvers: codegen.ts reads this tag)
 */
export interface ProductConnectionParent {
  readonly offset: number;
  readonly first: number;
  readonly page: Promise<{ total: number; products: readonly CatalogProduct[] }>;
}

/** Cursors are opaque to clients: base64url of the position of a node in the list. */
const encodeCursor = (position: number): string => Buffer.from(`p:${position}`).toString('base64url');

function decodeCursor(cursor: string): number {
  const m = /^p:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new BadUserInputError('"after" is not a cursor this API issued.', { argument: 'after' });
  return Number(m[1]);
}

export const catalogResolvers: Resolvers = {
  Query: {
    product: (_, { id }, ctx) => ctx.upstreams.catalog.productById.load(id),
    categories: async (_, __, ctx) => (await ctx.upstreams.catalog.categories.load('all')) ?? [],
    category: async (_, { slug }, ctx) => {
      const all = await ctx.upstreams.catalog.categories.load('all');
      return all?.find((c) => c.slug === slug) ?? null;
    },
  },
  Category: {
    products: (category, { first, after }, ctx, info) => {
      intInRange('first', first, 0, 100);
      const offset = after == null ? 0 : decodeCursor(after) + 1;
      // The catalog reads limit=0 as "everything"; ask for one and show none instead.
      const key = { slug: category.slug, limit: Math.max(first, 1), skip: offset };
      // Select pushdown: fetch only the product fields the operation's nodes need (undefined: all).
      const select = projectSelection(info, ['nodes'], withRequirements(info.schema, 'Product', PRODUCT_PROJECTION));
      const page = (select ? ctx.upstreams.catalog.productsByCategorySelected.load({ ...key, select }) : ctx.upstreams.catalog.productsByCategory.load(key))
        .then((p) => {
          if (!p) return { total: 0, products: [] };
          const products = p.products.slice(0, first);
          // Later fields that load these products by id (a checkout line, a recommendation) reuse
          // them; a projected product is partial, so it is never primed.
          if (!select) for (const product of products) ctx.upstreams.catalog.productById.prime(product.id, product);
          return { total: p.total, products };
        });
      return { offset, first, page };
    },
  },
  ProductConnection: {
    totalCount: async (c) => (await c.page).total,
    nodes: async (c) => (await c.page).products as CatalogProduct[],
    pageInfo: async (c) => {
      const { total, products } = await c.page;
      return {
        hasNextPage: c.offset + products.length < total,
        endCursor: products.length > 0 ? encodeCursor(c.offset + products.length - 1) : null,
      };
    },
  },
};

export default catalogResolvers;
