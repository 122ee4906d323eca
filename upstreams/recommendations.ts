/**
 * recommendations: products to show next to a product. Personalised when a user is signed in, so
 * the cache scope is `user`: one user's list is never served to another.
 */
import { Type } from '@sinclair/typebox';
import { defineUpstream, singleEndpoint } from '../src/connector/index.js';

export interface RecommendationKey {
  readonly productId: string;
  readonly limit: number;
}

const recommendations = defineUpstream({
  name: 'recommendations',
  description: 'Recommended product ids for a product, personalised for a signed-in user.',
  baseUrlEnv: 'UPSTREAM_RECOMMENDATIONS_URL',
  auth: { scheme: 'apiKey', header: 'X-Api-Key', key: { env: 'RECOMMENDATIONS_API_KEY', sandboxDefault: 'sandbox-recommendations-key' } },
  // Recommendations are optional content: when they fail the page shows none, without an error.
  policy: { timeoutMs: 1_000, onError: { fallback: [] } },
  endpoints: {
    forProduct: singleEndpoint({
      method: 'GET',
      request: (k: RecommendationKey, ctx) => ({
        path: '/recommendations',
        query: { productId: k.productId, userId: ctx.user?.id, limit: k.limit },
      }),
      response: Type.Object({ productIds: Type.Array(Type.Integer()) }),
      map: (body): string[] => body.productIds.map(String),
      cache: { ttlMs: 60_000, scope: 'user' },
    }),
  },
});
export default recommendations;

declare module './index.js' {
  interface Upstreams {
    recommendations: typeof recommendations;
  }
}
