/** tax: a tax quote for an amount shipped to a country, behind HTTP Basic. */
import { taxQuote } from '../data.js';
import { basicIs, BASIC_CHALLENGE } from '../auth.js';
import { defineSandboxUpstream, ok, route } from '../descriptor.js';
import { driftOne } from '../drift.js';
import { bad, countryField, jsonBody, postcodeField } from '../input.js';
import { errorResponses, json, jsonRequest, numb, obj, ref, str } from '../openapi.js';

export default defineSandboxUpstream({
  name: 'tax',
  portOffset: 7,
  latencyMs: 15,
  credentials: {
    taxUsername: { env: 'TAX_USERNAME', default: 'sandbox-tax' },
    taxPassword: { env: 'TAX_PASSWORD', default: 'sandbox-tax-password' },
  },
  challenge: BASIC_CHALLENGE('tax'),
  openapi: () => ({
    security: { basic: { type: 'http', scheme: 'basic' } },
    schemas: {},
    paths: {
      '/v1/tax/quote': {
        post: {
          operationId: 'quoteTax',
          requestBody: jsonRequest(obj({ country: { type: 'string', pattern: '^[A-Za-z]{2}$' }, postcode: str, amount: { type: 'number', minimum: 0 } })),
          responses: errorResponses(true, {
            '200': json('rate and tax (rounded half-up to cents)', obj({ rate: numb, tax: numb })),
            '400': json('invalid body', ref('Message')),
          }),
        },
      },
    },
  }),
  create: (host) => ({
    authorize: (ctx) => basicIs(ctx, host.credentials().taxUsername, host.credentials().taxPassword),
    routes: [
      route(
        'POST',
        '/v1/tax/quote',
        (ctx) => {
          const body = jsonBody(ctx);
          const country = countryField(body);
          postcodeField(body);
          const amount = body.amount;
          if (typeof amount !== 'number' || !Number.isFinite(amount) || amount < 0 || amount > 1e12) {
            throw bad("'amount' must be a number between 0 and 1000000000000");
          }
          return ok(taxQuote(country, amount));
        },
        { drift: driftOne({ rename: ['tax', 'taxAmount'], type: ['rate', 'tax'], missing: 'tax', extra: ['jurisdiction', 'sandbox'] }) },
      ),
    ],
  }),
});
