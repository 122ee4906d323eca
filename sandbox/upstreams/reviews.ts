/** reviews: the data set's reviews of products, batched by product id, behind a bearer token. */
import { products, reviewsOf } from '../data.js';
import type { ReviewInfo } from '../data.js';
import { bearerIs, BEARER_CHALLENGE } from '../auth.js';
import { defineSandboxUpstream, ok, route } from '../descriptor.js';
import { driftList } from '../drift.js';
import { bad, csv, parsePositiveId } from '../input.js';
import { arr, BEARER_SCHEME, dateTime, errorResponses, int, json, obj, qp, ref, str } from '../openapi.js';

const reviewsByProduct: ReadonlyMap<number, readonly ReviewInfo[]> = new Map(products.map((p) => [p.id, reviewsOf(p.id)]));

export default defineSandboxUpstream({
  name: 'reviews',
  portOffset: 4,
  latencyMs: 10,
  credentials: { reviewsToken: { env: 'REVIEWS_TOKEN', default: 'sandbox-reviews-token' } },
  challenge: BEARER_CHALLENGE('reviews'),
  openapi: () => ({
    security: BEARER_SCHEME,
    schemas: { Review: obj({ productId: int, rating: int, comment: str, date: dateTime, reviewerName: str, reviewerEmail: str }) },
    paths: {
      '/reviews': {
        get: {
          operationId: 'getReviews',
          parameters: [qp('productIds', 'comma-separated product ids (at most 100)', str, true)],
          responses: errorResponses(true, {
            '200': json('for each id asked, in order, its reviews in data-set order', obj({ reviews: arr(ref('Review')) })),
            '400': json('invalid product ids', ref('Message')),
          }),
        },
      },
    },
  }),
  create: (host) => ({
    authorize: (ctx) => bearerIs(ctx, host.credentials().reviewsToken),
    routes: [
      route(
        'GET',
        '/reviews',
        (ctx) => {
          const ids = csv(ctx.query, 'productIds', 100).map((s) => {
            const id = parsePositiveId(s);
            if (id === undefined) throw bad("query parameter 'productIds' must list positive integers");
            return id;
          });
          const out: ReviewInfo[] = [];
          for (const id of new Set(ids)) for (const r of reviewsByProduct.get(id) ?? []) out.push(r);
          return ok({ reviews: out });
        },
        { drift: driftList('reviews', { rename: ['rating', 'stars'], type: ['rating'], missing: 'reviewerName', extra: ['verified', true] }) },
      ),
    ],
  }),
});
