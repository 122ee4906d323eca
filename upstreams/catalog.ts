/**
 * catalog: the product catalogue (DummyJSON products API). No batch endpoint, on purpose: products by
 * id fan out one call per id under the upstream's concurrency cap.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineUpstream, singleEndpoint } from '../src/connector/index.js';
import type { Projection } from '../src/projection.js';

const ProductSchema = Type.Object({
  id: Type.Integer(),
  title: Type.String(),
  description: Type.Optional(Type.String()),
  category: Type.String(),
  price: Type.Optional(Type.Number()),
  rating: Type.Optional(Type.Number()),
  brand: Type.Optional(Type.String()),
  sku: Type.String(),
  images: Type.Optional(Type.Array(Type.String())),
  thumbnail: Type.Optional(Type.String()),
  shippingInformation: Type.Optional(Type.String()),
});
type UpstreamProduct = Static<typeof ProductSchema>;

/**
 * Our shape of a product. Upstream field names are mapped here and nowhere else.
 * @mapper Product (the parent of `Product` resolvers: codegen.ts reads this tag)
 */
export interface CatalogProduct {
  readonly id: string;
  readonly sku: string;
  readonly title: string;
  readonly description: string | null;
  readonly brand: string | null;
  readonly category: string;
  readonly images: readonly string[];
  readonly thumbnail: string | null;
  readonly rating: number | null;
}

export const toProduct = (p: UpstreamProduct): CatalogProduct => ({
  id: String(p.id),
  sku: p.sku,
  title: p.title,
  description: p.description ?? null,
  brand: p.brand ?? null,
  category: p.category,
  images: p.images ?? [],
  thumbnail: p.thumbnail ?? null,
  rating: p.rating ?? null,
});

/**
 * Select pushdown: the catalog's `select=` answers `id` plus the listed fields. Which upstream fields
 * each of the catalog's own Product fields needs; fields other modules add declare what they read
 * with `@requires` in their SDL module, and the resolver completes this from the composed schema
 * (`withRequirements`). The fields the projected shape always carries (id, sku) are always fetched.
 */
export const PRODUCT_PROJECTION: Projection = {
  always: ['id', 'sku'],
  fields: {
    id: ['id'],
    sku: ['sku'],
    title: ['title'],
    description: ['description'],
    brand: ['brand'],
    category: ['category'],
    images: ['images'],
    thumbnail: ['thumbnail'],
    rating: ['rating'],
  },
};

/** A product reduced by `select`: `id` and `sku` (always asked for) plus whatever was selected. */
const ProjectedProductSchema = Type.Composite([Type.Pick(ProductSchema, ['id', 'sku']), Type.Partial(Type.Omit(ProductSchema, ['id', 'sku']))]);

/**
 * A projected product in our shape. Fields the upstream did not send were not selected by the
 * operation, so no resolver reads them; they are filled with empty values only to keep the type.
 */
const toProjectedProduct = (p: Static<typeof ProjectedProductSchema>): CatalogProduct => ({
  id: String(p.id),
  sku: p.sku,
  title: p.title ?? '',
  description: p.description ?? null,
  brand: p.brand ?? null,
  category: p.category ?? '',
  images: p.images ?? [],
  thumbnail: p.thumbnail ?? null,
  rating: p.rating ?? null,
});

const ProductPageSchema = Type.Object({
  products: Type.Array(ProductSchema),
  total: Type.Integer({ minimum: 0 }),
  skip: Type.Integer({ minimum: 0 }),
  limit: Type.Integer({ minimum: 0 }),
});

export interface CategoryPageKey {
  readonly slug: string;
  readonly limit: number;
  readonly skip: number;
}

/** A page of a category with only these upstream fields (`select`, from PRODUCT_PROJECTION). */
export interface ProjectedCategoryPageKey extends CategoryPageKey {
  readonly select: readonly string[];
}

/** @mapper Category (the parent of `Category` resolvers: codegen.ts reads this tag) */
export interface CatalogCategory {
  readonly slug: string;
  readonly name: string;
}

const catalog = defineUpstream({
  name: 'catalog',
  description: 'Products and categories (DummyJSON products API).',
  baseUrlEnv: 'UPSTREAM_CATALOG_URL',
  auth: { scheme: 'none' },
  // Product bodies embed their reviews, with the reviewer's email: masked in debug-level traces.
  sensitiveFields: ['reviewerEmail'],
  policy: { timeoutMs: 1_000, maxConcurrency: 32 },
  endpoints: {
    productById: singleEndpoint({
      description: 'One product by id; 404 means no such product.',
      method: 'GET',
      request: (id: string) => ({ path: '/products/:id', params: { id } }),
      response: ProductSchema,
      map: toProduct,
      notFoundIsNull: true,
      cache: { ttlMs: 60_000, scope: 'public' },
    }),
    productsByCategory: singleEndpoint({
      description: 'One page of a category, in catalogue order.',
      method: 'GET',
      request: (k: CategoryPageKey) => ({
        path: '/products/category/:slug',
        params: { slug: k.slug },
        query: { limit: k.limit, skip: k.skip },
      }),
      response: ProductPageSchema,
      map: (page) => ({ total: page.total, products: page.products.map(toProduct) }),
      cache: { ttlMs: 60_000, scope: 'public' },
    }),
    productsByCategorySelected: singleEndpoint({
      description: 'One page of a category, each product reduced to the selected fields (select pushdown).',
      method: 'GET',
      request: (k: ProjectedCategoryPageKey) => ({
        path: '/products/category/:slug',
        params: { slug: k.slug },
        query: { limit: k.limit, skip: k.skip, select: k.select.join(',') },
      }),
      response: Type.Object({
        products: Type.Array(ProjectedProductSchema),
        total: Type.Integer({ minimum: 0 }),
        skip: Type.Integer({ minimum: 0 }),
        limit: Type.Integer({ minimum: 0 }),
      }),
      map: (page) => ({ total: page.total, products: page.products.map(toProjectedProduct) }),
      // Its fields in a fixed order (the default sorts the key's property names on every load).
      keyId: (k: ProjectedCategoryPageKey) => JSON.stringify([k.slug, k.limit, k.skip, k.select]),
      cache: { ttlMs: 60_000, scope: 'public' },
    }),
    categories: singleEndpoint({
      description: 'Every category, with its display name.',
      method: 'GET',
      request: (_: 'all') => ({ path: '/products/categories' }),
      response: Type.Array(Type.Object({ slug: Type.String(), name: Type.String(), url: Type.Optional(Type.String()) })),
      map: (list): CatalogCategory[] => list.map((c) => ({ slug: c.slug, name: c.name })),
      cache: { ttlMs: 300_000, scope: 'public' },
    }),
    productIdsBySku: singleEndpoint({
      description: 'Every product id by SKU (the catalog has no lookup by SKU; orders name their lines by SKU).',
      method: 'GET',
      request: (_: 'all') => ({ path: '/products', query: { limit: 0, select: 'sku' } }),
      response: Type.Object({ products: Type.Array(Type.Object({ id: Type.Integer(), sku: Type.String() })) }),
      // A plain object: cached values must survive JSON (Redis).
      map: (page): Readonly<Record<string, string>> => Object.fromEntries(page.products.map((p) => [p.sku, String(p.id)])),
      cache: { ttlMs: 300_000, scope: 'public' },
    }),
  },
});
export default catalog;

declare module './index.js' {
  interface Upstreams {
    catalog: typeof catalog;
  }
}
