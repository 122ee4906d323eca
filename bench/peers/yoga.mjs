/**
 * The floor of our own stack: bare graphql-yoga + dataloader + undici with hand-written resolvers,
 * none of Tributary's features (no validation of upstream answers, no cache, no retries, no logs).
 */
import DataLoader from 'dataloader';
import { createSchema, createYoga } from 'graphql-yoga';
import { Pool } from 'undici';
import { announce, createServer, decodeCursor, encodeCursor, formatMoney, INVENTORY_KEY, PRICING_AUTH, SDL, URLS } from './shop.mjs';

const pool = (u) => new Pool(u, { connections: 64, keepAliveTimeout: 60_000 });
const catalog = pool(URLS.catalog);
const pricing = pool(URLS.pricing);
const inventory = pool(URLS.inventory);

async function getJson(p, path, headers, method = 'GET', body) {
  const res = await p.request({ path, method, headers, body });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`${path}: ${res.statusCode}`);
  }
  return res.body.json();
}

function loaders() {
  return {
    prices: new DataLoader(async (skus) => {
      const body = await getJson(pricing, `/v1/prices?skus=${skus.map(encodeURIComponent).join(',')}`, { authorization: PRICING_AUTH });
      const by = new Map(body.prices.map((p) => [p.sku, p]));
      return skus.map((s) => by.get(s) ?? null);
    }, { maxBatchSize: 50 }),
    stock: new DataLoader(async (skus) => {
      const body = await getJson(inventory, '/stock/lookup', { 'x-api-key': INVENTORY_KEY, 'content-type': 'application/json' }, 'POST', JSON.stringify({ skus }));
      const by = new Map(body.items.map((i) => [i.sku, i]));
      return skus.map((s) => by.get(s) ?? null);
    }, { maxBatchSize: 100 }),
  };
}

const resolvers = {
  Query: {
    category: async (_, { slug }) => (await getJson(catalog, '/products/categories')).find((c) => c.slug === slug) ?? null,
  },
  Category: {
    products: (cat, { first, after }) => {
      const offset = after == null ? 0 : decodeCursor(after) + 1;
      const page = getJson(catalog, `/products/category/${encodeURIComponent(cat.slug)}?limit=${Math.max(first, 1)}&skip=${offset}`).then((p) => ({ total: p.total, products: p.products.slice(0, first) }));
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
    price: (p, _, ctx) => ctx.loaders.prices.load(p.sku),
    availability: (p, _, ctx) => ctx.loaders.stock.load(p.sku),
  },
  Price: { sale: (p) => ({ amount: formatMoney(p.sale), currencyCode: p.currency }), list: (p) => ({ amount: formatMoney(p.list), currencyCode: p.currency }) },
  Availability: { quantity: (a) => a.onHand },
};

const yoga = createYoga({
  schema: createSchema({ typeDefs: SDL, resolvers }),
  graphiql: false,
  landingPage: false,
  logging: false,
  context: () => ({ loaders: loaders() }),
});
announce(createServer(yoga), 'yoga');
