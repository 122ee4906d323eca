/** shipping: per-unit carrier quotes for a cart, behind OAuth2 client credentials (tokens expire). */
import { randomBytes } from 'node:crypto';
import { shippingQuote } from '../data.js';
import { basicCredentials, bearerToken, header, safeEqual } from '../auth.js';
import { defineSandboxUpstream, ok, route } from '../descriptor.js';
import type { Reply } from '../descriptor.js';
import { driftList } from '../drift.js';
import { envInt } from '../env.js';
import { countryField, jsonBody, postcodeField, skuLines } from '../input.js';
import { arr, errorResponses, int, json, numb, obj, ref, str } from '../openapi.js';

/** Access-token lifetime unless `shippingTokenTtlS` says otherwise, s. */
export const DEFAULT_SHIPPING_TOKEN_TTL_S = 300;

function formDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

const tokenRequest = obj({ grant_type: { const: 'client_credentials' }, client_id: str, client_secret: str }, ['grant_type']);

export default defineSandboxUpstream({
  name: 'shipping',
  portOffset: 6,
  latencyMs: 25,
  credentials: {
    shippingClientId: { env: 'SHIPPING_CLIENT_ID', default: 'sandbox-shipping-client' },
    shippingClientSecret: { env: 'SHIPPING_CLIENT_SECRET', default: 'sandbox-shipping-secret' },
  },
  challenge: 'Bearer realm="sandbox-shipping"',
  optionsFromEnv: (env) => {
    const ttl = envInt(env, 'SANDBOX_SHIPPING_TOKEN_TTL_S', 1, 86_400 * 365);
    return ttl === undefined ? {} : { shippingTokenTtlS: ttl };
  },
  openapi: () => ({
    security: { oauth2: { type: 'oauth2', flows: { clientCredentials: { tokenUrl: '/oauth/token', scopes: {} } } } },
    schemas: {
      Quote: obj({ sku: str, carrier: { type: 'string', enum: ['EXPRESS', 'STANDARD'] }, minDays: int, maxDays: int, cost: numb }),
    },
    paths: {
      '/oauth/token': {
        post: {
          operationId: 'issueToken',
          security: [],
          description: 'OAuth2 client credentials; client id and secret in an HTTP Basic header or in the body',
          requestBody: { required: true, content: { 'application/x-www-form-urlencoded': { schema: tokenRequest }, 'application/json': { schema: tokenRequest } } },
          responses: {
            '200': json('an access token', obj({ access_token: str, token_type: { const: 'Bearer' }, expires_in: int })),
            '400': json('unsupported grant type or invalid body', obj({ message: str, error: str }, ['message'])),
            '401': json('wrong client credentials', ref('Message')),
          },
        },
      },
      '/quotes': {
        post: {
          operationId: 'quoteShipping',
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: obj({
                  country: { type: 'string', pattern: '^[A-Za-z]{2}$' },
                  postcode: str,
                  items: { ...arr(obj({ sku: str, quantity: { type: 'integer', minimum: 1 } })), maxItems: 100 },
                }),
              },
            },
          },
          responses: errorResponses(true, {
            '200': json('per-unit quote lines (unknown SKUs left out) and the total', obj({ quotes: arr(ref('Quote')), total: numb })),
            '400': json('invalid body', ref('Message')),
          }),
        },
      },
    },
  }),
  create(host) {
    const ttlS = host.options.shippingTokenTtlS ?? DEFAULT_SHIPPING_TOKEN_TTL_S;
    if (!(typeof ttlS === 'number' && ttlS > 0 && Number.isFinite(ttlS))) throw new RangeError(`shippingTokenTtlS must be a positive number (got ${String(ttlS)})`);
    /** Access token -> expiry (epoch ms, by the sandbox clock). Insertion order = expiry order. */
    const tokens = new Map<string, number>();
    const issue = (): string => {
      const now = host.now();
      for (const [t, exp] of tokens) {
        if (exp > now) break;
        tokens.delete(t);
      }
      const token = randomBytes(24).toString('base64url');
      tokens.set(token, now + ttlS * 1000);
      return token;
    };
    const unauthorized: Reply = { status: 401, body: { message: 'unauthorized' } };
    return {
      authorize: (ctx) => {
        const t = bearerToken(ctx.headers);
        if (t === undefined) return false;
        const exp = tokens.get(t);
        if (exp === undefined) return false;
        if (exp <= host.now()) {
          tokens.delete(t);
          return false;
        }
        return true;
      },
      // Rotating the client credentials revokes every access token issued with the old ones.
      credentialsChanged: (prev, next) => {
        if (next.shippingClientId !== prev.shippingClientId || next.shippingClientSecret !== prev.shippingClientSecret) tokens.clear();
      },
      routes: [
        route(
          'POST',
          '/oauth/token',
          (ctx) => {
            // Body: application/x-www-form-urlencoded (RFC 6749) or JSON.
            const ct = (header(ctx.headers, 'content-type') ?? '').toLowerCase();
            const text = ctx.body.toString('utf8');
            const fields: Record<string, unknown> =
              ct.startsWith('application/json') || (!ct.includes('form-urlencoded') && text.trimStart().startsWith('{'))
                ? jsonBody(ctx)
                : Object.fromEntries(new URLSearchParams(text));
            if (fields.grant_type !== 'client_credentials') {
              return { status: 400, body: { error: 'unsupported_grant_type', message: "grant_type must be 'client_credentials'" } };
            }
            let id: string | undefined;
            let secret: string | undefined;
            const basic = basicCredentials(ctx.headers);
            if (basic) [id, secret] = [formDecode(basic[0]), formDecode(basic[1])];
            else if (typeof fields.client_id === 'string' && typeof fields.client_secret === 'string') [id, secret] = [fields.client_id, fields.client_secret];
            const c = host.credentials();
            // Evaluate both comparisons (no short-circuit) to keep timing uniform.
            const idOk = safeEqual(id ?? '', c.shippingClientId ?? '');
            const secretOk = safeEqual(secret ?? '', c.shippingClientSecret ?? '');
            if (id === undefined || !idOk || !secretOk) return unauthorized;
            return {
              status: 200,
              body: { access_token: issue(), token_type: 'Bearer', expires_in: ttlS },
              headers: { 'cache-control': 'no-store', pragma: 'no-cache' },
            };
          },
          { auth: false },
        ),
        route(
          'POST',
          '/quotes',
          (ctx) => {
            const body = jsonBody(ctx);
            countryField(body);
            postcodeField(body);
            const items = skuLines(body, 'items', 100).map(({ sku, quantity }) => ({ sku, quantity }));
            return ok(shippingQuote(items));
          },
          { drift: driftList('quotes', { rename: ['carrier', 'service'], type: ['cost'], missing: 'maxDays', extra: ['currency', 'USD'] }) },
        ),
      ],
    };
  },
});
