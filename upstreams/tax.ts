/** tax: sales tax on an amount for a destination, behind HTTP Basic. */
import { Type } from '@sinclair/typebox';
import { defineUpstream, singleEndpoint } from '../src/connector/index.js';

export interface TaxKey {
  readonly country: string;
  readonly postcode: string;
  /** Dollars, two decimal places. */
  readonly amount: number;
}

export interface TaxQuote {
  readonly rate: number;
  readonly tax: number;
}

const tax = defineUpstream({
  name: 'tax',
  description: 'Tax quotes.',
  baseUrlEnv: 'UPSTREAM_TAX_URL',
  auth: {
    scheme: 'basic',
    username: { env: 'TAX_USERNAME', sandboxDefault: 'sandbox-tax' },
    password: { env: 'TAX_PASSWORD', sandboxDefault: 'sandbox-tax-password' },
  },
  policy: { timeoutMs: 1_000 },
  endpoints: {
    quote: singleEndpoint({
      method: 'POST',
      retrySafe: true,
      request: (k: TaxKey) => ({ path: '/v1/tax/quote', body: { country: k.country, postcode: k.postcode, amount: k.amount } }),
      response: Type.Object({ rate: Type.Number(), tax: Type.Number() }),
      map: (body): TaxQuote => ({ rate: body.rate, tax: body.tax }),
      cache: { ttlMs: 60_000, scope: 'public' },
    }),
  },
});
export default tax;

declare module './index.js' {
  interface Upstreams {
    tax: typeof tax;
  }
}
