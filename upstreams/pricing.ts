/** pricing: list and sale prices by SKU, batched (at most 50 SKUs per call). */
import { Type, type Static } from '@sinclair/typebox';
import { batchEndpoint, defineUpstream } from '../src/connector/index.js';

const PriceSchema = Type.Object({
  sku: Type.String(),
  currency: Type.String(),
  list: Type.Number(),
  sale: Type.Number(),
  discountPercentage: Type.Number(),
});

/**
 * Our shape of a price. The upstream's field names are mapped here, so a rename is fixed in this file.
 * @mapper Price (the parent of `Price` resolvers: codegen.ts reads this tag)
 */
export interface PricingPrice {
  readonly sku: string;
  readonly currency: string;
  readonly list: number;
  readonly sale: number;
  readonly discountPercentage: number;
}

const pricing = defineUpstream({
  name: 'pricing',
  description: 'Prices by SKU.',
  baseUrlEnv: 'UPSTREAM_PRICING_URL',
  auth: { scheme: 'bearer', token: { env: 'PRICING_TOKEN', sandboxDefault: 'sandbox-pricing-token' } },
  policy: { timeoutMs: 800, onError: 'stale' },
  endpoints: {
    pricesBySku: batchEndpoint({
      method: 'GET',
      maxBatchSize: 50,
      request: (skus: readonly string[]) => ({ path: '/v1/prices', query: { skus: skus.join(',') } }),
      response: Type.Object({ prices: Type.Array(PriceSchema) }),
      items: (body) => body.prices,
      itemKey: (p: Static<typeof PriceSchema>) => p.sku,
      map: (p): PricingPrice => ({
        sku: p.sku,
        currency: p.currency,
        list: p.list,
        sale: p.sale,
        discountPercentage: p.discountPercentage,
      }),
      cardinality: 'one',
      // Prices change rarely; a price up to 10 minutes old beats no price when pricing is down.
      cache: { ttlMs: 30_000, scope: 'public', staleWhileRevalidateMs: 30_000, staleIfErrorMs: 600_000 },
    }),
  },
});
export default pricing;

declare module './index.js' {
  interface Upstreams {
    pricing: typeof pricing;
  }
}
