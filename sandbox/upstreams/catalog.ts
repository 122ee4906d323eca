/** catalog: the DummyJSON products API (no credential, no batch endpoint, on purpose). */
import { categoryName, categorySlugs, products, productById, productsByCategory } from '../data.js';
import type { Product } from '../data.js';
import { defineSandboxUpstream, ok, okJson, route } from '../descriptor.js';
import type { Reply } from '../descriptor.js';
import { driftList, driftOne } from '../drift.js';
import type { RecordDrift } from '../drift.js';
import { bad, intParam, parsePositiveId, single } from '../input.js';
import { arr, inferSchema, json, obj, qp, ref, str, int, pathParam } from '../openapi.js';
import type { Schema } from '../openapi.js';

const DRIFT: RecordDrift = { rename: ['title', 'name'], type: ['price'], missing: 'title', extra: ['vendor', 'dummyjson'] };

/** Top-level product fields (any product), usable in select and sortBy. */
const PRODUCT_FIELDS: ReadonlySet<string> = new Set(products.flatMap((p) => Object.keys(p)));
const productJson: ReadonlyMap<number, string> = new Map(products.map((p) => [p.id, JSON.stringify(p)]));
/** Lower-cased title, description, brand, category and tags of each product, for search. */
const searchText: ReadonlyMap<number, string> = new Map(
  products.map((p) => [p.id, [p.title, p.description, p.brand ?? '', p.category, ...p.tags].join('\u0000').toLowerCase()]),
);

function compareField(field: string, desc: boolean): (a: Product, b: Product) => number {
  return (a, b) => {
    const x = a[field];
    const y = b[field];
    const xu = x === undefined || x === null;
    const yu = y === undefined || y === null;
    if (xu || yu) return xu === yu ? 0 : xu ? 1 : -1; // missing values last, in both orders
    let c = 0;
    if (typeof x === 'number' && typeof y === 'number') c = x - y;
    else if (typeof x === 'string' && typeof y === 'string') c = x < y ? -1 : x > y ? 1 : 0;
    else if (typeof x === 'boolean' && typeof y === 'boolean') c = Number(x) - Number(y);
    return desc ? -c : c;
  };
}

/** Sorted copies of the base lists (all products, each category), built on first use. */
const sortCache = new WeakMap<readonly Product[], Map<string, readonly Product[]>>();

function sorted(list: readonly Product[], field: string, desc: boolean, cacheable: boolean): readonly Product[] {
  if (!cacheable) return [...list].sort(compareField(field, desc));
  let m = sortCache.get(list);
  if (!m) sortCache.set(list, (m = new Map()));
  const key = `${desc ? '-' : '+'}${field}`;
  let s = m.get(key);
  if (!s) m.set(key, (s = [...list].sort(compareField(field, desc))));
  return s;
}

function selectFields(q: URLSearchParams): string[] | undefined {
  const v = single(q, 'select');
  if (v === undefined) return undefined;
  const fields = v
    .split(',')
    .map((s) => s.trim())
    .filter((f) => f !== 'id' && PRODUCT_FIELDS.has(f));
  return [...new Set(fields)];
}

function project(p: Product, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { id: p.id };
  for (const f of fields) if (Object.hasOwn(p, f)) out[f] = p[f];
  return out;
}

/** DummyJSON list semantics: limit (default 30, 0 = all), skip, select, sortBy, order. */
function listProducts(list: readonly Product[], q: URLSearchParams, cacheable: boolean): Reply {
  const limit = intParam(q, 'limit', 30, 0, Number.MAX_SAFE_INTEGER);
  const skip = intParam(q, 'skip', 0, 0, Number.MAX_SAFE_INTEGER);
  const sortBy = single(q, 'sortBy');
  const order = single(q, 'order') ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw bad("query parameter 'order' must be 'asc' or 'desc'");
  const select = selectFields(q);
  let base = list;
  if (sortBy !== undefined && PRODUCT_FIELDS.has(sortBy)) base = sorted(list, sortBy, order === 'desc', cacheable);
  const page = base.slice(skip, limit === 0 ? undefined : skip + limit);
  const tail = `,"total":${list.length},"skip":${skip},"limit":${page.length}}`;
  if (select === undefined) return okJson(`{"products":[${page.map((p) => productJson.get(p.id)!).join(',')}]${tail}`);
  return okJson(`{"products":${JSON.stringify(page.map((p) => project(p, select)))}${tail}`);
}

const LIST_PARAMS = [
  qp('limit', 'page size (default 30; 0 = all)', { type: 'integer', minimum: 0 }),
  qp('skip', 'items to skip (default 0)', { type: 'integer', minimum: 0 }),
  qp('select', 'comma-separated product fields; the answer holds `id` plus these only', str),
  qp('sortBy', 'any product field; products keep data-set (id) order otherwise', str),
  qp('order', 'sort order (default asc)', { type: 'string', enum: ['asc', 'desc'] }),
];

function openapi() {
  const PRODUCT = inferSchema(products);
  const page = json('a page of products', ref('ProductPage'));
  const badQuery = json('invalid query parameter', ref('Message'));
  const paths: Record<string, Schema> = {
    '/products': { get: { operationId: 'listProducts', parameters: LIST_PARAMS, responses: { '200': page, '400': badQuery } } },
    '/products/search': {
      get: {
        operationId: 'searchProducts',
        parameters: [qp('q', 'case-insensitive text searched in title, description, brand, category and tags', str), ...LIST_PARAMS],
        responses: { '200': page, '400': badQuery },
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
        parameters: [pathParam('slug'), ...LIST_PARAMS],
        responses: { '200': json('a page of the category (an unknown slug gives an empty page)', ref('ProductPage')), '400': badQuery },
      },
    },
    '/products/{id}': {
      get: {
        operationId: 'getProduct',
        parameters: [pathParam('id', { type: 'integer', minimum: 1 }), qp('select', 'comma-separated product fields; the answer holds `id` plus these only', str)],
        responses: {
          '200': json('the product', { anyOf: [ref('Product'), ref('PartialProduct')] }),
          '404': json("Product with id 'X' not found", ref('Message')),
        },
      },
    },
  };
  return {
    paths,
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
}

export default defineSandboxUpstream({
  name: 'catalog',
  portOffset: 1,
  latencyMs: 15,
  credentials: {},
  openapi,
  create() {
    const listDrift = driftList('products', DRIFT);
    const categoryListJson = JSON.stringify(categorySlugs);
    return {
      authorize: () => true,
      routes: [
        route('GET', '/products', (ctx) => listProducts(products, ctx.query, true), { auth: false, drift: listDrift }),
        route(
          'GET',
          '/products/search',
          (ctx) => {
            const q = (single(ctx.query, 'q') ?? '').toLowerCase();
            const hits = q === '' ? products : products.filter((p) => searchText.get(p.id)!.includes(q));
            return listProducts(hits, ctx.query, q === '');
          },
          { auth: false, drift: listDrift },
        ),
        route(
          'GET',
          '/products/categories',
          (ctx) => ok(categorySlugs.map((slug) => ({ slug, name: categoryName(slug), url: `${ctx.origin}/products/category/${slug}` }))),
          { auth: false },
        ),
        route('GET', '/products/category-list', () => okJson(categoryListJson), { auth: false }),
        route(
          'GET',
          '/products/category/:slug',
          (ctx) => listProducts(productsByCategory.get(ctx.params[0]!) ?? [], ctx.query, productsByCategory.has(ctx.params[0]!)),
          { auth: false, drift: listDrift },
        ),
        route(
          'GET',
          '/products/:id',
          (ctx) => {
            const raw = ctx.params[0]!;
            const id = parsePositiveId(raw);
            const p = id === undefined ? undefined : productById.get(id);
            if (!p) return { status: 404, body: { message: `Product with id '${raw}' not found` } };
            const select = selectFields(ctx.query);
            return select === undefined ? okJson(productJson.get(p.id)!) : ok(project(p, select));
          },
          { auth: false, drift: driftOne(DRIFT) },
        ),
      ],
    };
  },
});
