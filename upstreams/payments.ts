/** payments: card charges and refunds, behind a secret key. Writes only, each with an Idempotency-Key. */
import { Type } from '@sinclair/typebox';
import { defineUpstream, singleEndpoint } from '../src/connector/index.js';

export interface ChargeInput {
  readonly amountCents: number;
  readonly source: string;
  readonly description: string;
}

export interface Charge {
  readonly id: string;
  readonly amountCents: number;
}

export interface Refund {
  readonly id: string;
  readonly chargeId: string;
}

const ChargeSchema = Type.Object({ id: Type.String(), status: Type.Literal('SUCCEEDED'), amountCents: Type.Integer({ minimum: 0 }) });
const RefundSchema = Type.Object({ id: Type.String(), chargeId: Type.String(), status: Type.Literal('SUCCEEDED') });
/** A refusal: 402 `{"error":{"code":"card_declined"}}`; other 4xx carry a message. */
const RefusalSchema = Type.Object({ error: Type.Optional(Type.Object({ code: Type.String() })), message: Type.Optional(Type.String()) });
const refusal = { response: RefusalSchema, pick: (b: { error?: { code: string } }) => ({ code: b.error?.code ?? null }) };

const payments = defineUpstream({
  name: 'payments',
  description: 'Card charges and refunds.',
  baseUrlEnv: 'UPSTREAM_PAYMENTS_URL',
  auth: { scheme: 'bearer', token: { env: 'PAYMENTS_SECRET_KEY', sandboxDefault: 'sandbox-payments-secret' } },
  // Money moves here: a slow answer is waited for longer than a read would be, and never hedged. A
  // charge whose answer was lost is sent again with the same Idempotency-Key (the workflow's).
  policy: { timeoutMs: 3_000, retry: { attempts: 3 } },
  endpoints: {
    charge: singleEndpoint({
      method: 'POST',
      request: (c: ChargeInput) => ({ path: '/v1/charges', body: { amountCents: c.amountCents, currency: 'USD', source: c.source, description: c.description } }),
      response: ChargeSchema,
      map: (b): Charge => ({ id: b.id, amountCents: b.amountCents }),
      errorDetail: refusal,
    }),
    refund: singleEndpoint({
      method: 'POST',
      request: (chargeId: string) => ({ path: '/v1/refunds', body: { chargeId } }),
      response: RefundSchema,
      map: (b): Refund => ({ id: b.id, chargeId: b.chargeId }),
      errorDetail: refusal,
    }),
  },
});
export default payments;

declare module './index.js' {
  interface Upstreams {
    payments: typeof payments;
  }
}
