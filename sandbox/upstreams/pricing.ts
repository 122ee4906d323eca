/** pricing: list and sale prices by SKU, batched, behind a bearer token. */
import { priceOf, products } from '../data.js';
import type { PriceInfo } from '../data.js';
import { bearerIs, BEARER_CHALLENGE } from '../auth.js';
import { defineSandboxUpstream, ok, route } from '../descriptor.js';
import { driftList } from '../drift.js';
import { csv } from '../input.js';
import { arr, BEARER_SCHEME, errorResponses, json, numb, obj, qp, ref, str } from '../openapi.js';

const priceBySku: ReadonlyMap<string, PriceInfo> = new Map(products.map((p) => [p.sku, priceOf(p)]));

export default defineSandboxUpstream({
  name: 'pricing',
  portOffset: 2,
  latencyMs: 10,
  credentials: { pricingToken: { env: 'PRICING_TOKEN', default: 'sandbox-pricing-token' } },
  challenge: BEARER_CHALLENGE('pricing'),
  openapi: () => ({
    security: BEARER_SCHEME,
    schemas: { Price: obj({ sku: str, currency: { const: 'USD' }, list: numb, sale: numb, discountPercentage: numb }) },
    paths: {
      '/v1/prices': {
        get: {
          operationId: 'getPrices',
          parameters: [qp('skus', 'comma-separated SKUs (at most 50); unknown ones are left out', str, true)],
          responses: errorResponses(true, {
            '200': json('prices in the order asked, each SKU once', obj({ prices: arr(ref('Price')) })),
            '400': json('missing or too many SKUs', ref('Message')),
          }),
        },
      },
    },
  }),
  create: (host) => ({
    authorize: (ctx) => bearerIs(ctx, host.credentials().pricingToken),
    routes: [
      route(
        'GET',
        '/v1/prices',
        (ctx) => {
          const prices: PriceInfo[] = [];
          for (const s of new Set(csv(ctx.query, 'skus', 50))) {
            const p = priceBySku.get(s);
            if (p) prices.push(p);
          }
          return ok({ prices });
        },
        { drift: driftList('prices', { rename: ['sale', 'salePrice'], type: ['list', 'sale'], missing: 'sale', extra: ['tier', 'standard'] }) },
      ),
    ],
  }),
});
