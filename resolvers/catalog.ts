import type { GraphQLSchema } from 'graphql';
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

/**
 * The catalog fields a page's products need: what `nodes` selects and what `edges { node }` selects
 * (a Relay client asks through `edges`), together; undefined (fetch everything) when either needs that.
 */
function pageSelection(info: Parameters<typeof projectSelection>[0] & { schema: GraphQLSchema }): readonly string[] | undefined {
  const projection = withRequirements(info.schema, 'Product', PRODUCT_PROJECTION);
  const fromNodes = projectSelection(info, ['nodes'], projection);
  const fromEdges = projectSelection(info, ['edges', 'node'], projection);
  if (!fromNodes || !fromEdges) return undefined;
  // A path the operation does not select gives the always-fetched fields only: keep the other's
  // list itself (projectSelection's lists are shared per document), and merge only when both add.
  if (fromEdges.every((f) => fromNodes.includes(f))) return fromNodes;
  if (fromNodes.every((f) => fromEdges.includes(f))) return fromEdges;
  return [...new Set([...fromNodes, ...fromEdges])].sort();
}

/**
 * Node ids (Relay's object identification). A product's `Node` id is its catalog id, the `id` every
 * client and operation already uses, so adding Relay changed no answer; products are the only `Node`
 * type, so these ids are unique among `Node`s. A later `Node` type takes ids prefixed with its type
 * name (`Review:…`), so a bare id always means a product and an id with a prefix never does.
 */
const isProductNodeId = (id: string): boolean => !id.includes(':');

export const catalogResolvers: Resolvers = {
  Query: {
    product: (_, { id }, ctx) => ctx.upstreams.catalog.productById.load(id),
    node: (_, { id }, ctx) => (isProductNodeId(id) ? ctx.upstreams.catalog.productById.load(id) : null),
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
      const select = pageSelection(info);
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
  Node: {
    // Products are the only Node type (see isProductNodeId).
    __resolveType: () => 'Product',
  },
  ProductConnection: {
    totalCount: async (c) => (await c.page).total,
    nodes: async (c) => (await c.page).products as CatalogProduct[],
    // Each product with the cursor of its position: the last edge's cursor is pageInfo.endCursor.
    edges: async (c) => ((await c.page).products as CatalogProduct[]).map((node, i) => ({ cursor: encodeCursor(c.offset + i), node })),
    pageInfo: async (c) => {
      const { total, products } = await c.page;
      return {
        hasNextPage: c.offset + products.length < total,
        // Paging forward (first/after), products come before this page when it starts past the first.
        hasPreviousPage: c.offset > 0 && total > 0,
        startCursor: products.length > 0 ? encodeCursor(c.offset) : null,
        endCursor: products.length > 0 ? encodeCursor(c.offset + products.length - 1) : null,
      };
    },
  },
};

export default catalogResolvers;
