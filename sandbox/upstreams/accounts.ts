/** accounts: the DummyJSON users API (every field, sensitive ones included, on purpose), behind a bearer token. */
import { userById, users } from '../data.js';
import { bearerIs, BEARER_CHALLENGE } from '../auth.js';
import { defineSandboxUpstream, okJson, route } from '../descriptor.js';
import { driftOne } from '../drift.js';
import { parsePositiveId } from '../input.js';
import { BEARER_SCHEME, errorResponses, inferSchema, json, pathParam, ref } from '../openapi.js';

const userJson: ReadonlyMap<number, string> = new Map([...userById].map(([id, u]) => [id, JSON.stringify(u)]));

export default defineSandboxUpstream({
  name: 'accounts',
  portOffset: 8,
  latencyMs: 15,
  credentials: { accountsToken: { env: 'ACCOUNTS_TOKEN', default: 'sandbox-accounts-token' } },
  challenge: BEARER_CHALLENGE('accounts'),
  openapi: () => ({
    security: BEARER_SCHEME,
    schemas: { User: inferSchema(users) },
    paths: {
      '/users/{id}': {
        get: {
          operationId: 'getUser',
          parameters: [pathParam('id', { type: 'integer', minimum: 1 })],
          responses: errorResponses(true, {
            '200': json('the user, every field (sensitive ones included)', ref('User')),
            '404': json("User with id 'X' not found", ref('Message')),
          }),
        },
      },
    },
  }),
  create: (host) => ({
    authorize: (ctx) => bearerIs(ctx, host.credentials().accountsToken),
    routes: [
      route(
        'GET',
        '/users/:id',
        (ctx) => {
          const raw = ctx.params[0]!;
          const id = parsePositiveId(raw);
          const json = id === undefined ? undefined : userJson.get(id);
          if (json === undefined) return { status: 404, body: { message: `User with id '${raw}' not found` } };
          return okJson(json);
        },
        { drift: driftOne({ rename: ['firstName', 'givenName'], type: ['id'], missing: 'email', extra: ['loyaltyTier', 'standard'] }) },
      ),
    ],
  }),
});
