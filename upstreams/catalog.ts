/**
 * catalog: the product catalogue (DummyJSON products API). No batch endpoint, on purpose: products by
 * id fan out one call per id under the upstream's concurrency cap.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineUpstream, singleEndpoint } from '../src/connector/index.js';

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

/** Our shape of a product. Upstream field names are mapped here and nowhere else. */
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

export interface CatalogCategory {
  readonly slug: string;
  readonly name: string;
}

export default defineUpstream({
  name: 'catalog',
  description: 'Products and categories (DummyJSON products API).',
  baseUrlEnv: 'UPSTREAM_CATALOG_URL',
  auth: { scheme: 'none' },
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
    categories: singleEndpoint({
      description: 'Every category, with its display name.',
      method: 'GET',
      request: (_: 'all') => ({ path: '/products/categories' }),
      response: Type.Array(Type.Object({ slug: Type.String(), name: Type.String(), url: Type.Optional(Type.String()) })),
      map: (list): CatalogCategory[] => list.map((c) => ({ slug: c.slug, name: c.name })),
      cache: { ttlMs: 300_000, scope: 'public' },
    }),
  },
});
