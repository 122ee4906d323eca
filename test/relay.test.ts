/**
 * Relay over a real gateway and sandbox: connections as `@connection` reads them (`edges { cursor
 * node }`, `pageInfo` both ways), object identification (`Node`, `node(id:)`), and the client
 * operations of `operations/` untouched by either (their byte-level answers are e2e.test.ts's).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { byId, products } from './support/expected.js';
import { OPERATIONS, startStack, type Stack } from './support/stack.js';

let stack: Stack;

beforeAll(async () => {
  // Cache off: the catalog calls counted below are exact, whatever ran before.
  stack = await startStack({ env: { CACHE: 'off' } });
});
afterAll(async () => {
  await stack?.close();
});
beforeEach(() => stack.resetStats());

const idsOf = (slug: string) => products.filter((p) => p.category === slug).map((p) => String(p.id));
const catalogPaths = () => stack.sandbox.upstream('catalog').stats().requests.map((r) => decodeURIComponent(r.path));

/** What relay-compiler sends for a `@connection` (plus `nodes`, to compare the two). */
const CONNECTION = /* GraphQL */ `
  query Connection($slug: String!, $first: Int!, $after: String) {
    category(slug: $slug) {
      products(first: $first, after: $after) {
        totalCount
        edges { cursor node { __typename id title } }
        nodes { id }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }
  }
`;

/** A Relay pagination query selects only `edges` (and `pageInfo`), never `nodes`. */
const EDGES_ONLY = /* GraphQL */ `
  query EdgesOnly($slug: String!, $first: Int!, $after: String) {
    category(slug: $slug) {
      products(first: $first, after: $after) {
        edges { cursor node { id title sku } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
`;

describe('connections', () => {
  it('gives edges whose nodes and cursors agree with nodes and pageInfo', async () => {
    const slug = 'groceries';
    const r = await stack.gql(CONNECTION, { slug, first: 5 });
    expect(r.body.errors).toBeUndefined();
    const c = r.body.data.category.products;
    expect(c.totalCount).toBe(idsOf(slug).length);
    expect(c.edges.map((e: any) => e.node.id)).toEqual(idsOf(slug).slice(0, 5));
    expect(c.edges.map((e: any) => e.node.id)).toEqual(c.nodes.map((n: any) => n.id));
    expect(c.edges.map((e: any) => e.node.title)).toEqual(idsOf(slug).slice(0, 5).map((id) => byId.get(id)!.title));
    expect(c.edges.every((e: any) => e.node.__typename === 'Product')).toBe(true);
    const cursors: string[] = c.edges.map((e: any) => e.cursor);
    expect(new Set(cursors).size).toBe(5);
    expect(c.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false, startCursor: cursors[0], endCursor: cursors[4] });
  });

  it('pages with `after` from any edge cursor, and knows what came before', async () => {
    const slug = 'groceries';
    const first = await stack.gql(CONNECTION, { slug, first: 5 });
    const edges = first.body.data.category.products.edges;
    // After the third edge: the products from the fourth on (what Relay's refetch of a slice does).
    const fromThird = await stack.gql(CONNECTION, { slug, first: 4, after: edges[2].cursor });
    expect(fromThird.body.errors).toBeUndefined();
    const c = fromThird.body.data.category.products;
    expect(c.edges.map((e: any) => e.node.id)).toEqual(idsOf(slug).slice(3, 7));
    expect(c.edges[0].cursor).toBe(edges[3].cursor); // a position has one cursor, whichever page shows it
    expect(c.pageInfo.hasPreviousPage).toBe(true);
    expect(c.pageInfo.startCursor).toBe(c.edges[0].cursor);
    expect(c.pageInfo.endCursor).toBe(c.edges[3].cursor);
  });

  it('walks a whole category through edges only, with the catalog asked only for the selected fields', async () => {
    const slug = 'kitchen-accessories';
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const r: Awaited<ReturnType<Stack['gql']>> = await stack.gql(EDGES_ONLY, { slug, first: 7, after });
      expect(r.body.errors).toBeUndefined();
      const c = r.body.data.category.products;
      for (const e of c.edges) {
        expect(e.node.sku).toBe(byId.get(e.node.id)!.sku);
        seen.push(e.node.id);
      }
      pages += 1;
      if (!c.pageInfo.hasNextPage) break;
      after = c.pageInfo.endCursor;
    }
    expect(seen).toEqual(idsOf(slug));
    expect(pages).toBe(Math.ceil(idsOf(slug).length / 7));
    // Select pushdown reads `edges { node }` as it reads `nodes`: every page asked for the fields
    // the nodes selected, not the whole product.
    const pagesAsked = catalogPaths().filter((p) => p.startsWith(`/products/category/${slug}`));
    expect(pagesAsked).toHaveLength(pages);
    for (const p of pagesAsked) {
      const select = new URLSearchParams(p.split('?')[1]).get('select')!.split(',');
      expect(select).toEqual(expect.arrayContaining(['id', 'sku', 'title']));
      expect(select).not.toContain('description');
    }
  });

  it('answers an empty page and a page past the end with null cursors', async () => {
    const slug = 'beauty';
    const all = await stack.gql(CONNECTION, { slug, first: 100 });
    const c = all.body.data.category.products;
    expect(c.pageInfo.hasNextPage).toBe(false);
    const past = await stack.gql(CONNECTION, { slug, first: 5, after: c.pageInfo.endCursor });
    expect(past.body.errors).toBeUndefined();
    expect(past.body.data.category.products).toEqual({
      totalCount: idsOf(slug).length,
      edges: [],
      nodes: [],
      pageInfo: { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null },
    });
    const none = await stack.gql(CONNECTION, { slug, first: 0 });
    expect(none.body.data.category.products.edges).toEqual([]);
    expect(none.body.data.category.products.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false, startCursor: null, endCursor: null });
  });
});

describe('object identification', () => {
  const NODE = /* GraphQL */ `
    query Node($id: ID!) {
      node(id: $id) { __typename id ... on Product { title sku } }
    }
  `;

  it('refetches a product by the id it was given, as Relay refetches a fragment', async () => {
    const edges = (await stack.gql(CONNECTION, { slug: 'groceries', first: 2 })).body.data.category.products.edges;
    for (const { node } of edges) {
      const r = await stack.gql(NODE, { id: node.id });
      expect(r.body.errors).toBeUndefined();
      expect(r.body.data.node).toEqual({ __typename: 'Product', id: node.id, title: node.title, sku: byId.get(node.id)!.sku });
    }
  });

  it('gives the same product as `product(id:)`, and its id is the catalog id', async () => {
    const r = await stack.gql(`{ node(id: "1") { id ... on Product { title } } product(id: "1") { id title } }`);
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.node).toEqual(r.body.data.product);
    expect(r.body.data.node).toEqual({ id: '1', title: byId.get('1')!.title });
  });

  it('answers null for an unknown id, and for another type\'s id without asking the catalog', async () => {
    const unknown = await stack.gql(NODE, { id: '999999' });
    expect(unknown.body).toEqual({ data: { node: null } });
    expect(catalogPaths()).toEqual(['/products/999999']);
    stack.resetStats();
    const prefixed = await stack.gql(NODE, { id: 'Review:1' });
    expect(prefixed.body).toEqual({ data: { node: null } });
    expect(catalogPaths()).toEqual([]);
  });
});

describe('the client operations', () => {
  it('answer with exactly the fields they select: no edges, no new pageInfo fields', async () => {
    const r = await stack.gql(OPERATIONS.CategoryPage, { slug: 'groceries', first: 3 });
    expect(r.body.errors).toBeUndefined();
    const c = r.body.data.category.products;
    expect(Object.keys(c)).toEqual(['totalCount', 'pageInfo', 'nodes']);
    expect(Object.keys(c.pageInfo)).toEqual(['hasNextPage', 'endCursor']);
    expect(c.nodes.map((n: any) => n.id)).toEqual(idsOf('groceries').slice(0, 3));
    const p = await stack.gql(OPERATIONS.ProductPage, { id: '1', country: 'US', postcode: '10001' });
    expect(p.body.errors).toBeUndefined();
    expect(p.body.data.product.id).toBe('1');
  });
});
