/**
 * OpenAPI 3.1 documents of the sandbox upstreams. The Product and User schemas are inferred from
 * the data set itself (a field is required when every record has it), so they are accurate by
 * construction; the rest is written out by hand from the handlers in upstreams.ts.
 */
import { products, users } from './data.js';
import type { UpstreamName } from './types.js';

type Schema = Record<string, unknown>;

/** Infers a JSON Schema (2020-12 subset) describing every sample value. */
export function inferSchema(samples: readonly unknown[]): Schema {
  const types = new Set<string>();
  for (const s of samples) {
    if (s === null) types.add('null');
    else if (Array.isArray(s)) types.add('array');
    else if (typeof s === 'number') types.add(Number.isInteger(s) ? 'integer' : 'number');
    else types.add(typeof s);
  }
  if (types.has('integer') && types.has('number')) types.delete('integer');
  const schema: Schema = {};
  const list = [...types];
  if (list.length === 1) schema.type = list[0];
  else if (list.length > 1) schema.type = list;
  if (types.has('object')) {
    const objs = samples.filter((s): s is Record<string, unknown> => typeof s === 'object' && s !== null && !Array.isArray(s));
    const keys: string[] = [];
    for (const o of objs) for (const k of Object.keys(o)) if (!keys.includes(k)) keys.push(k);
    const properties: Record<string, Schema> = {};
    for (const k of keys) properties[k] = inferSchema(objs.filter((o) => Object.hasOwn(o, k)).map((o) => o[k]));
    schema.properties = properties;
    schema.required = keys.filter((k) => objs.every((o) => Object.hasOwn(o, k)));
  }
  if (types.has('array')) {
    const items = samples.filter(Array.isArray).flat();
    schema.items = items.length ? inferSchema(items) : {};
  }
  return schema;
}

const PRODUCT = inferSchema(products);
const USER = inferSchema(users);

const obj = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({
  type: 'object',
  properties,
  required,
});
const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const numb: Schema = { type: 'number' };
const arr = (items: Schema): Schema => ({ type: 'array', items });
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

const MESSAGE = obj({ message: str });

function json(description: string, schema: Schema): Schema {
  return { description, content: { 'application/json': { schema } } };
}

const errorResponses = (auth: boolean, extra: Record<string, Schema> = {}): Record<string, Schema> => ({
  ...extra,
  ...(auth ? { '401': json('missing or wrong credential', ref('Message')) } : {}),
});

function qp(name: string, description: string, schema: Schema, required = false): Schema {
  return { name, in: 'query', required, description, schema };
}

const LIST_PARAMS = [
  qp('limit', 'page size (default 30; 0 = all)', { type: 'integer', minimum: 0 }),
  qp('skip', 'items to skip (default 0)', { type: 'integer', minimum: 0 }),
  qp('select', 'comma-separated product fields; the answer holds `id` plus these only', str),
  qp('sortBy', 'any product field; products keep data-set (id) order otherwise', str),
  qp('order', 'sort order (default asc)', { type: 'string', enum: ['asc', 'desc'] }),
];

function catalogPaths(): Record<string, Schema> {
  const page = json('a page of products', ref('ProductPage'));
  const bad = json('invalid query parameter', ref('Message'));
  return {
    '/products': { get: { operationId: 'listProducts', parameters: LIST_PARAMS, responses: { '200': page, '400': bad } } },
    '/products/search': {
      get: {
        operationId: 'searchProducts',
        parameters: [qp('q', 'case-insensitive text searched in title, description, brand, category and tags', str), ...LIST_PARAMS],
        responses: { '200': page, '400': bad },
      },
    },
    '/products/categories': {
      get: {
        operationId: 'listCategories',
        responses: { '200': json('every category', arr(obj({ slug: str, name: str, url: { type: 'string', format: 'uri' } }))) },
      },
    },
    '/products/category-list': {
      get: { operationId: 'listCategorySlugs', responses: { '200': json('every category slug', arr(str)) } },
    },
    '/products/category/{slug}': {
      get: {
        operationId: 'listProductsOfCategory',
        parameters: [{ name: 'slug', in: 'path', required: true, schema: str }, ...LIST_PARAMS],
        responses: { '200': json('a page of the category (an unknown slug gives an empty page)', ref('ProductPage')), '400': bad },
      },
    },
    '/products/{id}': {
      get: {
        operationId: 'getProduct',
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } },
          qp('select', 'comma-separated product fields; the answer holds `id` plus these only', str),
        ],
        responses: {
          '200': json('the product', { anyOf: [ref('Product'), ref('PartialProduct')] }),
          '404': json("Product with id 'X' not found", ref('Message')),
        },
      },
    },
  };
}

function paths(name: UpstreamName): { paths: Record<string, Schema>; schemas: Record<string, Schema>; security?: Schema } {
  switch (name) {
    case 'catalog':
      return {
        paths: catalogPaths(),
        schemas: {
          Product: PRODUCT,
          PartialProduct: {
            type: 'object',
            description: 'a product reduced by `select`: `id` plus the selected fields',
            properties: PRODUCT.properties,
            required: ['id'],
          },
          ProductPage: obj({
            products: arr({ anyOf: [ref('Product'), ref('PartialProduct')] }),
            total: int,
            skip: int,
            limit: { type: 'integer', description: 'number of products in this answer' },
          }),
        },
      };
    case 'pricing':
      return {
        security: { bearer: { type: 'http', scheme: 'bearer' } },
        schemas: {
          Price: obj({ sku: str, currency: { const: 'USD' }, list: numb, sale: numb, discountPercentage: numb }),
        },
        paths: {
          '/v1/prices': {
            get: {
              operationId: 'getPrices',
              parameters: [qp('skus', 'comma-separated SKUs (at most 50); unknown ones are left out', str, true)],
              responses: errorResponses(true, {
                '200': json('prices in the order asked, each SKU once', obj({ prices: arr(ref('Price')) })),
                '400': json('missing or too many SKUs', ref('Message')),
              }),
            },
          },
        },
      };
    case 'inventory':
      return {
        security: { apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' } },
        schemas: {
          StockItem: obj({ sku: str, onHand: int, status: { type: 'string', enum: ['IN_STOCK', 'LOW_STOCK', 'OUT_OF_STOCK'] } }),
        },
        paths: {
          '/stock/lookup': {
            post: {
              operationId: 'lookupStock',
              requestBody: { required: true, content: { 'application/json': { schema: obj({ skus: { ...arr(str), maxItems: 100 } }) } } },
              responses: errorResponses(true, {
                '200': json('stock in the order asked, each SKU once; unknown SKUs left out', obj({ items: arr(ref('StockItem')) })),
                '400': json('invalid body', ref('Message')),
              }),
            },
          },
        },
      };
    case 'reviews':
      return {
        security: { bearer: { type: 'http', scheme: 'bearer' } },
        schemas: {
          Review: obj({ productId: int, rating: int, comment: str, date: { type: 'string', format: 'date-time' }, reviewerName: str, reviewerEmail: str }),
        },
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
      };
    case 'recommendations':
      return {
        security: { apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' } },
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
      };
    case 'shipping':
      return {
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
              requestBody: {
                required: true,
                content: {
                  'application/x-www-form-urlencoded': {
                    schema: obj({ grant_type: { const: 'client_credentials' }, client_id: str, client_secret: str }, ['grant_type']),
                  },
                  'application/json': {
                    schema: obj({ grant_type: { const: 'client_credentials' }, client_id: str, client_secret: str }, ['grant_type']),
                  },
                },
              },
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
      };
    case 'tax':
      return {
        security: { basic: { type: 'http', scheme: 'basic' } },
        schemas: {},
        paths: {
          '/v1/tax/quote': {
            post: {
              operationId: 'quoteTax',
              requestBody: {
                required: true,
                content: {
                  'application/json': {
                    schema: obj({ country: { type: 'string', pattern: '^[A-Za-z]{2}$' }, postcode: str, amount: { type: 'number', minimum: 0 } }),
                  },
                },
              },
              responses: errorResponses(true, {
                '200': json('rate and tax (rounded half-up to cents)', obj({ rate: numb, tax: numb })),
                '400': json('invalid body', ref('Message')),
              }),
            },
          },
        },
      };
    case 'accounts':
      return {
        security: { bearer: { type: 'http', scheme: 'bearer' } },
        schemas: { User: USER },
        paths: {
          '/users/{id}': {
            get: {
              operationId: 'getUser',
              parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } }],
              responses: errorResponses(true, {
                '200': json('the user, every field (sensitive ones included)', ref('User')),
                '404': json("User with id 'X' not found", ref('Message')),
              }),
            },
          },
        },
      };
  }
}

/** The OpenAPI 3.1 document of one upstream served at `origin`. */
export function openApiDocument(name: UpstreamName, origin: string): Schema {
  const p = paths(name);
  const schemeName = p.security ? Object.keys(p.security)[0]! : undefined;
  return {
    openapi: '3.1.0',
    info: {
      title: `Tributary sandbox: ${name}`,
      version: '1.0.0',
      description: 'A sandbox upstream over the DummyJSON data set (MIT). Every response is JSON.',
    },
    servers: [{ url: origin }],
    ...(schemeName ? { security: [{ [schemeName]: [] }] } : {}),
    paths: p.paths,
    components: {
      schemas: { Message: MESSAGE, ...p.schemas },
      ...(p.security ? { securitySchemes: p.security } : {}),
    },
  };
}
