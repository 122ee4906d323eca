/**
 * The limit: a hand-written node:http handler with no GraphQL. It reads the CategoryPage variables,
 * calls catalog (categories and the page, in parallel), then pricing and inventory in parallel
 * (keep-alive undici pools), and writes the JSON Tributary answers. It serves CategoryPage only.
 */
import { Pool } from 'undici';
import { announce, createServer, decodeCursor, encodeCursor, formatMoney, INVENTORY_KEY, PRICING_AUTH, URLS } from './shop.mjs';

const pool = (u) => new Pool(u, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 });
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

async function categoryPage(vars) {
  const first = vars.first ?? 20;
  const offset = vars.after == null ? 0 : decodeCursor(vars.after) + 1;
  const [cats, page] = await Promise.all([
    getJson(catalog, '/products/categories'),
    getJson(catalog, `/products/category/${encodeURIComponent(vars.slug)}?limit=${Math.max(first, 1)}&skip=${offset}&select=sku,title,thumbnail,rating`),
  ]);
  const cat = cats.find((c) => c.slug === vars.slug);
  if (!cat) return { data: { category: null } };
  const products = page.products.slice(0, first);
  const skus = products.map((p) => p.sku);
  const [prices, stock] = await Promise.all([
    skus.length ? getJson(pricing, `/v1/prices?skus=${skus.map(encodeURIComponent).join(',')}`, { authorization: PRICING_AUTH }) : { prices: [] },
    skus.length
      ? getJson(inventory, '/stock/lookup', { 'x-api-key': INVENTORY_KEY, 'content-type': 'application/json' }, 'POST', JSON.stringify({ skus }))
      : { items: [] },
  ]);
  const priceBySku = new Map(prices.prices.map((p) => [p.sku, p]));
  const stockBySku = new Map(stock.items.map((i) => [i.sku, i]));
  const nodes = products.map((p) => {
    const price = priceBySku.get(p.sku);
    const st = stockBySku.get(p.sku);
    return {
      id: String(p.id),
      title: p.title,
      thumbnail: p.thumbnail ?? null,
      rating: p.rating ?? null,
      price: price ? { sale: { amount: formatMoney(price.sale), currencyCode: price.currency } } : null,
      availability: st ? { status: st.status } : null,
    };
  });
  return {
    data: {
      category: {
        slug: cat.slug,
        name: cat.name,
        products: {
          totalCount: page.total,
          pageInfo: { hasNextPage: offset + products.length < page.total, endCursor: products.length ? encodeCursor(offset + products.length - 1) : null },
          nodes,
        },
      },
    },
  };
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let out;
    try {
      const { variables } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      out = categoryPage(variables ?? {});
    } catch (e) {
      out = Promise.reject(e);
    }
    out.then(
      (body) => {
        const s = JSON.stringify(body);
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(s) });
        res.end(s);
      },
      (e) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ message: String(e.message) }] }));
      },
    );
  });
});
announce(server, 'node-http');
