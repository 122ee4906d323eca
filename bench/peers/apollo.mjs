/**
 * Apollo Server 5 (standalone, node:http) + @apollo/datasource-rest + dataloader, the way its
 * documentation composes REST: a RESTDataSource per upstream, created per request, with DataLoader
 * batching the SKU lookups.
 */
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { RESTDataSource } from '@apollo/datasource-rest';
import DataLoader from 'dataloader';
import { decodeCursor, encodeCursor, env, formatMoney, INVENTORY_KEY, PRICING_AUTH, SDL, URLS } from './shop.mjs';

class CatalogAPI extends RESTDataSource {
  baseURL = `${URLS.catalog}/`;
  categories() {
    return this.get('products/categories');
  }
  page(slug, limit, skip) {
    return this.get(`products/category/${encodeURIComponent(slug)}`, { params: { limit: String(limit), skip: String(skip) } });
  }
}

class PricingAPI extends RESTDataSource {
  baseURL = `${URLS.pricing}/`;
  loader = new DataLoader(async (skus) => {
    const body = await this.get('v1/prices', { params: { skus: skus.join(',') }, headers: { authorization: PRICING_AUTH } });
    const by = new Map(body.prices.map((p) => [p.sku, p]));
    return skus.map((s) => by.get(s) ?? null);
  }, { maxBatchSize: 50 });
}

class InventoryAPI extends RESTDataSource {
  baseURL = `${URLS.inventory}/`;
  loader = new DataLoader(async (skus) => {
    const body = await this.post('stock/lookup', { body: { skus }, headers: { 'x-api-key': INVENTORY_KEY } });
    const by = new Map(body.items.map((i) => [i.sku, i]));
    return skus.map((s) => by.get(s) ?? null);
  }, { maxBatchSize: 100 });
}

const resolvers = {
  Query: {
    category: async (_, { slug }, { dataSources }) => (await dataSources.catalog.categories()).find((c) => c.slug === slug) ?? null,
  },
  Category: {
    products: (cat, { first, after }, { dataSources }) => {
      const offset = after == null ? 0 : decodeCursor(after) + 1;
      const page = dataSources.catalog.page(cat.slug, Math.max(first, 1), offset).then((p) => ({ total: p.total, products: p.products.slice(0, first) }));
      return { offset, page };
    },
  },
  ProductConnection: {
    totalCount: async (c) => (await c.page).total,
    nodes: async (c) => (await c.page).products,
    pageInfo: async (c) => {
      const { total, products } = await c.page;
      return { hasNextPage: c.offset + products.length < total, endCursor: products.length ? encodeCursor(c.offset + products.length - 1) : null };
    },
  },
  Product: {
    id: (p) => String(p.id),
    price: (p, _, { dataSources }) => dataSources.pricing.loader.load(p.sku),
    availability: (p, _, { dataSources }) => dataSources.inventory.loader.load(p.sku),
  },
  Price: { sale: (p) => ({ amount: formatMoney(p.sale), currencyCode: p.currency }), list: (p) => ({ amount: formatMoney(p.list), currencyCode: p.currency }) },
  Availability: { quantity: (a) => a.onHand },
};

const server = new ApolloServer({ typeDefs: SDL, resolvers, introspection: false });
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(env.PORT ?? 0), host: env.HOST ?? '127.0.0.1' },
  context: async () => {
    const { cache } = server;
    return { dataSources: { catalog: new CatalogAPI({ cache }), pricing: new PricingAPI({ cache }), inventory: new InventoryAPI({ cache }) } };
  },
});
process.stdout.write(`peer apollo listening ${url.replace(/\/$/, '').replace('localhost', '127.0.0.1')}\n`);
process.once('SIGTERM', () => server.stop().then(() => process.exit(0)));
