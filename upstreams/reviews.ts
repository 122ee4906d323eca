/** reviews: product reviews, batched by product id; each product has a list. */
import { Type, type Static } from '@sinclair/typebox';
import { batchEndpoint, defineUpstream } from '../src/connector/index.js';

const ReviewSchema = Type.Object({
  productId: Type.Integer(),
  rating: Type.Integer(),
  comment: Type.String(),
  date: Type.String(),
  reviewerName: Type.String(),
  reviewerEmail: Type.Optional(Type.String()),
});

/**
 * Our shape of a review. The reviewer's email is personal data and is not carried.
 * @mapper Review (the parent of `Review` resolvers: codegen.ts reads this tag)
 */
export interface ProductReview {
  readonly rating: number;
  readonly comment: string;
  readonly date: string;
  readonly reviewerName: string;
}

const reviews = defineUpstream({
  name: 'reviews',
  description: 'Reviews by product id.',
  baseUrlEnv: 'UPSTREAM_REVIEWS_URL',
  auth: { scheme: 'bearer', token: { env: 'REVIEWS_TOKEN', sandboxDefault: 'sandbox-reviews-token' } },
  policy: { timeoutMs: 800, onError: 'stale' },
  sensitiveFields: ['reviewerEmail'],
  endpoints: {
    reviewsByProductId: batchEndpoint({
      method: 'GET',
      maxBatchSize: 100,
      request: (ids: readonly string[]) => ({ path: '/reviews', query: { productIds: ids.join(',') } }),
      response: Type.Object({ reviews: Type.Array(ReviewSchema) }),
      items: (body) => body.reviews,
      itemKey: (r: Static<typeof ReviewSchema>) => String(r.productId),
      map: (r): ProductReview => ({ rating: r.rating, comment: r.comment, date: r.date, reviewerName: r.reviewerName }),
      cardinality: 'many',
      cache: { ttlMs: 60_000, scope: 'public', staleWhileRevalidateMs: 60_000, staleIfErrorMs: 3_600_000 },
    }),
  },
});
export default reviews;

declare module './index.js' {
  interface Upstreams {
    reviews: typeof reviews;
  }
}
