/** shipping: carrier quotes for a cart, behind OAuth2 client credentials. */
import { Type } from '@sinclair/typebox';
import { defineUpstream, singleEndpoint } from '../src/connector/index.js';

export interface ShippingQuoteKey {
  readonly country: string;
  readonly postcode: string;
  readonly items: readonly { readonly sku: string; readonly quantity: number }[];
}

/** @mapper ShippingEstimate (the parent of `ShippingEstimate` resolvers: codegen.ts reads this tag) */
export interface ShippingQuoteLine {
  readonly sku: string;
  readonly carrier: string;
  readonly minDays: number;
  readonly maxDays: number;
  /** Per unit, dollars. */
  readonly cost: number;
}

export interface ShippingQuote {
  readonly lines: readonly ShippingQuoteLine[];
  /** Whole cart, dollars. */
  readonly total: number;
}

const shipping = defineUpstream({
  name: 'shipping',
  description: 'Shipping quotes for a destination and a list of items.',
  baseUrlEnv: 'UPSTREAM_SHIPPING_URL',
  auth: {
    scheme: 'oauth2ClientCredentials',
    tokenPath: '/oauth/token',
    clientId: { env: 'SHIPPING_CLIENT_ID', sandboxDefault: 'sandbox-shipping-client' },
    clientSecret: { env: 'SHIPPING_CLIENT_SECRET', sandboxDefault: 'sandbox-shipping-secret' },
  },
  policy: { timeoutMs: 1_000 },
  endpoints: {
    quote: singleEndpoint({
      method: 'POST',
      // A quote changes nothing upstream: safe to send again.
      retrySafe: true,
      request: (k: ShippingQuoteKey) => ({ path: '/quotes', body: { country: k.country, postcode: k.postcode, items: k.items } }),
      response: Type.Object({
        quotes: Type.Array(
          Type.Object({ sku: Type.String(), carrier: Type.String(), minDays: Type.Integer(), maxDays: Type.Integer(), cost: Type.Number() }),
        ),
        total: Type.Number(),
      }),
      map: (body): ShippingQuote => ({ lines: body.quotes, total: body.total }),
      cache: { ttlMs: 60_000, scope: 'public' },
    }),
  },
});
export default shipping;

declare module './index.js' {
  interface Upstreams {
    shipping: typeof shipping;
  }
}
