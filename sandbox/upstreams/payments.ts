/**
 * payments: card charges and whole refunds, behind a bearer secret key. The card is a test token:
 * `tok_visa` succeeds, `tok_declined` is declined (402), `tok_error` is a processor failure (500).
 */
import { randomBytes } from 'node:crypto';
import { bearerIs, BEARER_CHALLENGE } from '../auth.js';
import { created, defineSandboxUpstream, HttpError, ok, route } from '../descriptor.js';
import type { Ctx, Reply } from '../descriptor.js';
import { driftOne } from '../drift.js';
import { bad, intField, jsonBody, stringField } from '../input.js';
import { BEARER_SCHEME, bool, dateTime, errorResponses, IDEMPOTENCY_KEY, int, json, jsonRequest, obj, pathParam, ref, str } from '../openapi.js';

/** Largest charge accepted, cents. */
export const MAX_CHARGE_CENTS = 100_000_000_00;
/** The test card tokens and what each does. */
export const CARD_TOKENS = { succeeds: 'tok_visa', declined: 'tok_declined', fails: 'tok_error' } as const;

interface Charge {
  id: string;
  status: 'SUCCEEDED';
  amountCents: number;
  currency: 'USD';
  description: string | null;
  refunded: boolean;
  refundId: string | null;
  createdAt: number;
  idempotencyKey: string | null;
}

interface Refund {
  id: string;
  chargeId: string;
  status: 'SUCCEEDED';
  amountCents: number;
  createdAt: number;
  idempotencyKey: string | null;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const keyOf = (ctx: Ctx): string | null => {
  const v = ctx.headers['idempotency-key'];
  return (Array.isArray(v) ? v[0] : v) ?? null;
};

const ChargeSchema = obj(
  { id: str, status: { const: 'SUCCEEDED' }, amountCents: int, currency: { const: 'USD' }, description: { type: ['string', 'null'] }, refunded: bool, createdAt: dateTime },
  ['id', 'status', 'amountCents', 'refunded'],
);
const CardError = obj({ error: obj({ code: str, message: str }, ['code']) });

export default defineSandboxUpstream({
  name: 'payments',
  portOffset: 9,
  latencyMs: 40,
  credentials: { paymentsSecretKey: { env: 'PAYMENTS_SECRET_KEY', default: 'sandbox-payments-secret' } },
  challenge: BEARER_CHALLENGE('payments'),
  openapi: () => ({
    security: BEARER_SCHEME,
    schemas: { Charge: ChargeSchema, CardError },
    paths: {
      '/v1/charges': {
        post: {
          operationId: 'createCharge',
          parameters: [IDEMPOTENCY_KEY],
          requestBody: jsonRequest(
            obj(
              { amountCents: { type: 'integer', minimum: 1, maximum: MAX_CHARGE_CENTS }, currency: { const: 'USD' }, source: { type: 'string', enum: Object.values(CARD_TOKENS) }, description: str },
              ['amountCents', 'currency', 'source'],
            ),
          ),
          responses: errorResponses(true, {
            '201': json('the charge succeeded', obj({ id: str, status: { const: 'SUCCEEDED' }, amountCents: int })),
            '400': json('invalid body or unknown source', ref('Message')),
            '402': json('the card was declined (`card_declined`)', ref('CardError')),
            '409': json('Idempotency-Key reused with a different body', ref('Message')),
            '500': json('the processor failed (`processing_error`)', ref('CardError')),
          }),
        },
      },
      '/v1/charges/{id}': {
        get: {
          operationId: 'getCharge',
          parameters: [pathParam('id')],
          responses: errorResponses(true, { '200': json('the charge, with whether it was refunded', ref('Charge')), '404': json('unknown charge', ref('Message')) }),
        },
      },
      '/v1/refunds': {
        post: {
          operationId: 'createRefund',
          parameters: [IDEMPOTENCY_KEY],
          requestBody: jsonRequest(obj({ chargeId: str })),
          responses: errorResponses(true, {
            '201': json('the whole charge was refunded', obj({ id: str, chargeId: str, status: { const: 'SUCCEEDED' }, amountCents: int }, ['id', 'chargeId', 'status'])),
            '400': json('invalid body', ref('Message')),
            '404': json('unknown charge', ref('Message')),
            '409': json('the charge was already refunded (under another key), or the key was reused with a different body', ref('Message')),
          }),
        },
      },
    },
  }),
  create(host) {
    const charges = new Map<string, Charge>();
    const refunds: Refund[] = [];
    const declines: { source: string; amountCents: number; at: number; idempotencyKey: string | null }[] = [];
    const chargeView = (c: Charge) => ({
      id: c.id,
      status: c.status,
      amountCents: c.amountCents,
      currency: c.currency,
      description: c.description,
      refunded: c.refunded,
      createdAt: iso(c.createdAt),
    });
    return {
      authorize: (ctx) => bearerIs(ctx, host.credentials().paymentsSecretKey),
      records: () => ({
        charges: [...charges.values()].map((c) => ({ ...chargeView(c), refundId: c.refundId, idempotencyKey: c.idempotencyKey })),
        refunds: refunds.map((r) => ({ ...r, createdAt: iso(r.createdAt) })),
        declines: declines.map((d) => ({ ...d, at: iso(d.at) })),
      }),
      routes: [
        route(
          'POST',
          '/v1/charges',
          (ctx): Reply => {
            const body = jsonBody(ctx);
            const amountCents = intField(body, 'amountCents', 1, MAX_CHARGE_CENTS);
            if (body.currency !== 'USD') throw bad("'currency' must be 'USD'");
            const source = stringField(body, 'source');
            const description = body.description === undefined ? null : stringField(body, 'description', 500);
            if (source === CARD_TOKENS.declined) {
              declines.push({ source, amountCents, at: host.now(), idempotencyKey: keyOf(ctx) });
              return { status: 402, body: { error: { code: 'card_declined', message: 'the card was declined' } } };
            }
            if (source === CARD_TOKENS.fails) return { status: 500, body: { error: { code: 'processing_error', message: 'the processor failed' } } };
            if (source !== CARD_TOKENS.succeeds) throw bad(`unknown 'source' '${source}' (use ${Object.values(CARD_TOKENS).join(', ')})`);
            const c: Charge = {
              id: `ch_${randomBytes(12).toString('hex')}`,
              status: 'SUCCEEDED',
              amountCents,
              currency: 'USD',
              description,
              refunded: false,
              refundId: null,
              createdAt: host.now(),
              idempotencyKey: keyOf(ctx),
            };
            charges.set(c.id, c);
            return created({ id: c.id, status: c.status, amountCents: c.amountCents, currency: c.currency });
          },
          { idempotent: true },
        ),
        route(
          'GET',
          '/v1/charges/:id',
          (ctx) => {
            const c = charges.get(ctx.params[0]!);
            if (!c) throw new HttpError(404, `charge '${ctx.params[0]}' not found`);
            return ok(chargeView(c));
          },
          { drift: driftOne({ rename: ['refunded', 'isRefunded'], type: ['amountCents'], missing: 'refunded', extra: ['livemode', false] }) },
        ),
        route(
          'POST',
          '/v1/refunds',
          (ctx): Reply => {
            const body = jsonBody(ctx);
            const chargeId = stringField(body, 'chargeId');
            const c = charges.get(chargeId);
            if (!c) throw new HttpError(404, `charge '${chargeId}' not found`);
            if (c.refunded) return { status: 409, body: { message: `charge '${chargeId}' has already been refunded`, refundId: c.refundId } };
            const r: Refund = { id: `re_${randomBytes(12).toString('hex')}`, chargeId, status: 'SUCCEEDED', amountCents: c.amountCents, createdAt: host.now(), idempotencyKey: keyOf(ctx) };
            c.refunded = true;
            c.refundId = r.id;
            refunds.push(r);
            return created({ id: r.id, chargeId, status: r.status, amountCents: r.amountCents });
          },
          { idempotent: true },
        ),
      ],
    };
  },
});
