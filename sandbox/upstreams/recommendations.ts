/** recommendations: product ids to show beside a product, optionally personalised, behind an API key. */
import { anonymousRecommendations, personalisedRecommendations, RECOMMENDATIONS_DEFAULT_LIMIT, RECOMMENDATIONS_MAX_LIMIT } from '../data.js';
import { apiKeyIs, API_KEY_CHALLENGE } from '../auth.js';
import { defineSandboxUpstream, ok, route } from '../descriptor.js';
import type { DriftKind } from '../types.js';
import { bad, intParam, isObj, parsePositiveId, single } from '../input.js';
import { API_KEY_SCHEME, arr, errorResponses, int, json, obj, qp, ref } from '../openapi.js';

function idParam(q: URLSearchParams, name: string, required: boolean): number | undefined {
  const v = single(q, name);
  if (v === undefined) {
    if (required) throw bad(`query parameter '${name}' is required`);
    return undefined;
  }
  const id = parsePositiveId(v);
  if (id === undefined) throw bad(`query parameter '${name}' must be a positive integer`);
  return id;
}

/** rename productIds -> ids; type: ids as strings; missing: no productIds; extra: "strategy". */
function drift(body: unknown, kind: DriftKind): unknown {
  if (!isObj(body) || !Array.isArray(body.productIds)) return body;
  const ids = body.productIds as unknown[];
  switch (kind) {
    case 'rename':
      return { ids };
    case 'type':
      return { productIds: ids.map((x) => String(x)) };
    case 'missing':
      return {};
    case 'extra':
      return { productIds: ids, strategy: 'sandbox' };
  }
}

export default defineSandboxUpstream({
  name: 'recommendations',
  portOffset: 5,
  latencyMs: 60,
  credentials: { recommendationsApiKey: { env: 'RECOMMENDATIONS_API_KEY', default: 'sandbox-recommendations-key' } },
  challenge: API_KEY_CHALLENGE,
  openapi: () => ({
    security: API_KEY_SCHEME,
    schemas: {},
    paths: {
      '/recommendations': {
        get: {
          operationId: 'getRecommendations',
          parameters: [
            qp('productId', 'the product being viewed', { type: 'integer', minimum: 1 }, true),
            qp('userId', 'personalise for this user (see sandbox/README.md)', { type: 'integer', minimum: 1 }),
            qp('limit', 'at most this many (default 4)', { type: 'integer', minimum: 1, maximum: 50 }),
          ],
          responses: errorResponses(true, {
            '200': json('recommended product ids', obj({ productIds: arr(int) })),
            '400': json('invalid query parameter', ref('Message')),
          }),
        },
      },
    },
  }),
  create: (host) => ({
    authorize: (ctx) => apiKeyIs(ctx, host.credentials().recommendationsApiKey),
    routes: [
      route(
        'GET',
        '/recommendations',
        (ctx) => {
          const productId = idParam(ctx.query, 'productId', true)!;
          const userId = idParam(ctx.query, 'userId', false);
          const limit = intParam(ctx.query, 'limit', RECOMMENDATIONS_DEFAULT_LIMIT, 1, RECOMMENDATIONS_MAX_LIMIT);
          const productIds = userId === undefined ? anonymousRecommendations(productId, limit) : personalisedRecommendations(productId, userId, limit);
          return ok({ productIds });
        },
        { drift },
      ),
    ],
  }),
});
