/**
 * What every GraphQL peer shares: the schema subset CategoryPage needs (the same types and
 * nullability as Tributary's), the upstream URLs and credentials from the environment, and the
 * domain rules Tributary applies (money as a two-place string, opaque base64url cursors).
 * Written for the benchmark; none of Tributary's code is used by the peers.
 */
import { createServer } from 'node:http';

export const SDL = /* GraphQL */ `
  type Query { category(slug: String!): Category }
  type Category { slug: String! name: String! products(first: Int! = 20, after: String): ProductConnection! }
  type ProductConnection { totalCount: Int! pageInfo: PageInfo! nodes: [Product!]! }
  type PageInfo { hasNextPage: Boolean! endCursor: String }
  type Product { id: ID! sku: String! title: String! thumbnail: String rating: Float price: Price availability: Availability }
  type Price { sale: Money! list: Money! discountPercentage: Float! }
  type Money { amount: String! currencyCode: String! }
  enum AvailabilityStatus { IN_STOCK LOW_STOCK OUT_OF_STOCK }
  type Availability { status: AvailabilityStatus! quantity: Int! }
`;

export const env = process.env;
export const URLS = {
  catalog: env.UPSTREAM_CATALOG_URL,
  pricing: env.UPSTREAM_PRICING_URL,
  inventory: env.UPSTREAM_INVENTORY_URL,
};
export const PRICING_AUTH = `Bearer ${env.PRICING_TOKEN}`;
export const INVENTORY_KEY = env.INVENTORY_API_KEY;

/** 8.94 (dollars, as pricing sends them) -> "8.94". */
export function formatMoney(dollars) {
  const cents = Math.round(dollars * 100);
  const abs = Math.abs(cents);
  return `${cents < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

export const encodeCursor = (position) => Buffer.from(`p:${position}`).toString('base64url');
export function decodeCursor(cursor) {
  const m = /^p:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new Error('"after" is not a cursor this API issued.');
  return Number(m[1]);
}

/** Print the URL the bench waits for. */
export function announce(server, name, path = '/graphql') {
  server.keepAliveTimeout = 65_000;
  server.listen(Number(env.PORT ?? 0), env.HOST ?? '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`peer ${name} listening http://127.0.0.1:${a.port}${path}\n`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

export { createServer };
