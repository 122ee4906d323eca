/**
 * Hive Gateway serving a GraphQL Mesh composition of the sandbox's OpenAPI documents (catalog,
 * pricing, inventory; composed at start by `mesh-compose` from each upstream's /openapi.json), with
 * the CategoryPage shape added the Mesh way: additionalTypeDefs and additionalResolvers over the
 * in-context SDK, SKU lookups batched with its key/argsFromKeys/valuesFromResults.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createGatewayRuntime } from '@graphql-hive/gateway';
import { decodeCursor, encodeCursor, env, formatMoney } from './shop.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
execFileSync(`${HERE}node_modules/.bin/mesh-compose`, ['-c', 'mesh.config.mjs', '-o', 'supergraph.graphql'], { cwd: HERE, env, stdio: 'ignore' });

const additionalTypeDefs = /* GraphQL */ `
  extend type Query { category(slug: String!): ShopCategory }
  type ShopCategory { slug: String! name: String! products(first: Int! = 20, after: String): ShopProductConnection! }
  type ShopProductConnection { totalCount: Int! pageInfo: ShopPageInfo! nodes: [ShopProduct!]! }
  type ShopPageInfo { hasNextPage: Boolean! endCursor: String }
  type ShopProduct { id: ID! sku: String! title: String! thumbnail: String rating: Float price: ShopPrice availability: ShopAvailability }
  type ShopPrice { sale: ShopMoney! list: ShopMoney! discountPercentage: Float! }
  type ShopMoney { amount: String! currencyCode: String! }
  type ShopAvailability { status: String! quantity: Int! }
`;

const additionalResolvers = {
  Query: {
    category: async (root, { slug }, context, info) => {
      const cats = await context.catalog.Query.listCategories({ root, context, info, selectionSet: '{ slug name }' });
      return cats.find((c) => c.slug === slug) ?? null;
    },
  },
  ShopCategory: {
    products: (cat, { first, after }, context, info) => {
      const offset = after == null ? 0 : decodeCursor(after) + 1;
      const page = context.catalog.Query.listProductsOfCategory({
        root: cat,
        context,
        info,
        args: { slug: cat.slug, limit: Math.max(first, 1), skip: offset },
        selectionSet: '{ ... on ProductPage { total products { id sku title thumbnail rating } } }',
      }).then((p) => ({ total: p.total, products: p.products.slice(0, first) }));
      return { offset, page };
    },
  },
  ShopProductConnection: {
    totalCount: async (c) => (await c.page).total,
    nodes: async (c) => (await c.page).products,
    pageInfo: async (c) => {
      const { total, products } = await c.page;
      return { hasNextPage: c.offset + products.length < total, endCursor: products.length ? encodeCursor(c.offset + products.length - 1) : null };
    },
  },
  ShopProduct: {
    id: (p) => String(p.id),
    price: (p, _, context, info) =>
      context.pricing.Query.getPrices({
        root: p,
        context,
        info,
        key: p.sku,
        argsFromKeys: (skus) => ({ skus: skus.join(',') }),
        valuesFromResults: (res, skus) => skus.map((s) => res?.prices?.find((x) => x.sku === s) ?? null),
        selectionSet: '{ ... on getPrices_200_response { prices { sku currency list sale discountPercentage } } }',
      }),
    availability: (p, _, context, info) =>
      context.inventory.Mutation.lookupStock({
        root: p,
        context,
        info,
        key: p.sku,
        argsFromKeys: (skus) => ({ input: { skus } }),
        valuesFromResults: (res, skus) => skus.map((s) => res?.items?.find((x) => x.sku === s) ?? null),
        selectionSet: '{ ... on lookupStock_200_response { items { sku onHand status } } }',
      }),
  },
  ShopPrice: {
    sale: (p) => ({ amount: formatMoney(p.sale), currencyCode: p.currency }),
    list: (p) => ({ amount: formatMoney(p.list), currencyCode: p.currency }),
  },
  ShopAvailability: { quantity: (a) => a.onHand },
};

const gateway = createGatewayRuntime({
  supergraph: `${HERE}supergraph.graphql`,
  additionalTypeDefs,
  additionalResolvers,
  logging: false,
  graphqlEndpoint: '/graphql',
  landingPage: false,
  graphiql: false,
});
const server = createServer(gateway);
server.keepAliveTimeout = 65_000;
server.listen(Number(env.PORT ?? 0), env.HOST ?? '127.0.0.1', () => {
  process.stdout.write(`peer hive listening http://127.0.0.1:${server.address().port}/graphql\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
