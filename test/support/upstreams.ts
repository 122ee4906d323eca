/**
 * Upstream definitions the engine tests build on: the shop's own upstreams (their auth and paths,
 * from `upstreams/`) with the policies a test needs.
 */
import { Type } from '@sinclair/typebox';
import { defineUpstream, singleEndpoint } from '../../src/connector/index.js';
import tax from '../../upstreams/tax.js';

/**
 * The tax upstream with a non-idempotent POST quote by amount, declared retry-safe or not, tried up to
 * 3 times (1 ms backoff), no breaker.
 */
export function taxOrder(retrySafe: boolean, timeoutMs: number) {
  return defineUpstream({
    name: 'tax',
    baseUrlEnv: tax.baseUrlEnv,
    auth: tax.auth,
    policy: { timeoutMs, retry: { attempts: 3, baseDelayMs: 1 }, breaker: false },
    endpoints: {
      quote: singleEndpoint({
        method: 'POST',
        retrySafe,
        request: (amount: number) => ({ path: '/v1/tax/quote', body: { country: 'US', postcode: '10001', amount } }),
        response: Type.Object({ rate: Type.Number(), tax: Type.Number() }),
        map: (b) => b.tax,
      }),
    },
  });
}
