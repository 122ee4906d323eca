/**
 * The eight sandbox upstreams: their routes, handlers, credential checks and response drifts.
 * Everything that can be is precomputed at module load; handlers do map look-ups and small loops.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import {
  categoryName,
  categorySlugs,
  personalisedRecommendations,
  anonymousRecommendations,
  priceOf,
  productById,
  products,
  productsByCategory,
  RECOMMENDATIONS_DEFAULT_LIMIT,
  RECOMMENDATIONS_MAX_LIMIT,
  reviewsOf,
  shippingQuote,
  stockOf,
  taxQuote,
  userById,
} from './data.js';
import type { PriceInfo, Product, ReviewInfo, StockInfo } from './data.js';
import type { DriftKind, SandboxCredentials, UpstreamName } from './types.js';

// ---------------------------------------------------------------------------------------------
// Framework types
// ---------------------------------------------------------------------------------------------

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const bad = (message: string): HttpError => new HttpError(400, message);

/** Mutable per-upstream state the handlers and credential checks read. */
export interface UpstreamState {
  credentials: SandboxCredentials;
  /** shipping: access token -> expiry (epoch ms, by `now`). Insertion order = expiry order. */
  tokens: Map<string, number>;
  tokenTtlS: number;
  now: () => number;
}

export interface Ctx {
  method: string;
  query: URLSearchParams;
  /** Percent-decoded path parameters, in order. */
  params: string[];
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** This server's origin, e.g. http://127.0.0.1:4101 */
  origin: string;
  state: UpstreamState;
}

/** A handler's answer: `body` (serialised with JSON.stringify) or an already serialised `json`. */
export interface Reply {
  status: number;
  body?: unknown;
  json?: string;
  headers?: Record<string, string>;
}

export interface RouteDef {
  method: 'GET' | 'POST';
  /** e.g. '/products/:id' */
  pattern: string;
  /** Route key: `${method} ${pattern}` */
  key: string;
  /** Whether the upstream's credential check applies. */
  auth: boolean;
  handle(ctx: Ctx): Reply;
  /** Transforms a 200 answer's body into its drifted shape. */
  drift?: (body: unknown, kind: DriftKind) => unknown;
}

export interface UpstreamDef {
  name: UpstreamName;
  routes: RouteDef[];
  /** Credential check for routes with `auth: true`. */
  authorize(ctx: Ctx): boolean;
}

function route(method: 'GET' | 'POST', pattern: string, auth: boolean, handle: (ctx: Ctx) => Reply, drift?: RouteDef['drift']): RouteDef {
  return { method, pattern, key: `${method} ${pattern}`, auth, handle, ...(drift ? { drift } : {}) };
}

const ok = (body: unknown): Reply => ({ status: 200, body });
const okJson = (json: string): Reply => ({ status: 200, json });

// ---------------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------------

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time string comparison (compares SHA-256 digests, so lengths leak nothing either). */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const m = /^Bearer +(\S+) *$/i.exec(header(headers, 'authorization') ?? '');
  return m?.[1];
}

/** [user, password] of `Authorization: Basic <base64(user:password)>`, or undefined. */
export function basicCredentials(headers: IncomingHttpHeaders): [string, string] | undefined {
  const m = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header(headers, 'authorization') ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return [decoded.slice(0, i), decoded.slice(i + 1)];
}

function bearerIs(ctx: Ctx, expected: string): boolean {
  const t = bearerToken(ctx.headers);
  return t !== undefined && safeEqual(t, expected);
}

function apiKeyIs(ctx: Ctx, expected: string): boolean {
  const k = header(ctx.headers, 'x-api-key');
  return k !== undefined && safeEqual(k, expected);
}

// ---------------------------------------------------------------------------------------------
// Input helpers (strict)
// ---------------------------------------------------------------------------------------------

function single(q: URLSearchParams, name: string): string | undefined {
  const all = q.getAll(name);
  if (all.length > 1) throw bad(`query parameter '${name}' must be given at most once`);
  return all[0];
}

function intParam(q: URLSearchParams, name: string, def: number, min: number, max: number): number {
  const v = single(q, name);
  if (v === undefined) return def;
  const n = /^\d{1,16}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw bad(`query parameter '${name}' must be an integer between ${min} and ${max}`);
  }
  return n;
}

/** A positive safe integer written in plain decimal digits ("1", not "01", "1.0", "+1", " 1"). */
export function parsePositiveId(s: string): number | undefined {
  if (!/^[1-9]\d{0,15}$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

function csv(q: URLSearchParams, name: string, max: number): string[] {
  const v = single(q, name);
  if (v === undefined) throw bad(`query parameter '${name}' is required`);
  const items = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length > max) throw bad(`query parameter '${name}' lists ${items.length} values; at most ${max} are allowed`);
  return items;
}

function jsonBody(ctx: Ctx): Record<string, unknown> {
  if (ctx.body.length === 0) throw bad('request body must be a JSON object');
  let v: unknown;
  try {
    v = JSON.parse(ctx.body.toString('utf8'));
  } catch {
    throw bad('request body is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('request body must be a JSON object');
  return v as Record<string, unknown>;
}

function countryField(body: Record<string, unknown>): string {
  const c = body.country;
  if (typeof c !== 'string' || !/^[A-Za-z]{2}$/.test(c)) throw bad("'country' must be an ISO 3166-1 alpha-2 code (two letters)");
  return c.toUpperCase();
}

function postcodeField(body: Record<string, unknown>): string {
  const p = body.postcode;
  if (typeof p !== 'string' || p.length > 32) throw bad("'postcode' must be a string of at most 32 characters");
  return p;
}

// ---------------------------------------------------------------------------------------------
// Drift helpers
// ---------------------------------------------------------------------------------------------

interface RecordDrift {
  /** rename: [from, to] */
  rename: [string, string];
  /** type: these numeric fields become strings */
  type: string[];
  /** missing: this field is removed */
  missing: string;
  /** extra: this field is added */
  extra: [string, unknown];
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function driftRecord(rec: Record<string, unknown>, kind: DriftKind, d: RecordDrift): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    if (kind === 'rename' && k === d.rename[0]) out[d.rename[1]] = v;
    else if (kind === 'type' && d.type.includes(k) && typeof v === 'number') out[k] = String(v);
    else if (kind === 'missing' && k === d.missing) continue;
    else out[k] = v;
  }
  if (kind === 'extra') out[d.extra[0]] = d.extra[1];
  return out;
}

function driftList(listKey: string, d: RecordDrift): (body: unknown, kind: DriftKind) => unknown {
  return (body, kind) => {
    if (!isObj(body) || !Array.isArray(body[listKey])) return body;
    return { ...body, [listKey]: (body[listKey] as unknown[]).map((r) => (isObj(r) ? driftRecord(r, kind, d) : r)) };
  };
}

function driftOne(d: RecordDrift): (body: unknown, kind: DriftKind) => unknown {
  return (body, kind) => (isObj(body) ? driftRecord(body, kind, d) : body);
}

/** Drift of each upstream (documented in sandbox/README.md). */
export const DRIFTS = {
  catalog: { rename: ['title', 'name'], type: ['price'], missing: 'title', extra: ['vendor', 'dummyjson'] },
  pricing: { rename: ['sale', 'salePrice'], type: ['list', 'sale'], missing: 'sale', extra: ['tier', 'standard'] },
  inventory: { rename: ['onHand', 'quantity'], type: ['onHand'], missing: 'status', extra: ['warehouse', 'main'] },
  reviews: { rename: ['rating', 'stars'], type: ['rating'], missing: 'reviewerName', extra: ['verified', true] },
  shipping: { rename: ['carrier', 'service'], type: ['cost'], missing: 'maxDays', extra: ['currency', 'USD'] },
  tax: { rename: ['tax', 'taxAmount'], type: ['rate', 'tax'], missing: 'tax', extra: ['jurisdiction', 'sandbox'] },
  accounts: { rename: ['firstName', 'givenName'], type: ['id'], missing: 'email', extra: ['loyaltyTier', 'standard'] },
} satisfies Partial<Record<UpstreamName, RecordDrift>>;

/** recommendations drift: rename productIds -> ids; type: ids as strings; missing: no productIds; extra: "strategy". */
function driftRecommendations(body: unknown, kind: DriftKind): unknown {
  if (!isObj(body) || !Array.isArray(body.productIds)) return body;
  const ids = body.productIds as unknown[];
  switch (kind) {
    case 'rename':
      return { ids };
    case 'type':
      return { productIds: ids.map((x) => String(x)) };
    case 'missing':
      return {};
    case 'extra':
      return { productIds: ids, strategy: 'sandbox' };
  }
}

// ---------------------------------------------------------------------------------------------
// catalog
// ---------------------------------------------------------------------------------------------

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

function catalog(): UpstreamDef {
  const d = DRIFTS.catalog as RecordDrift;
  const listDrift = driftList('products', d);
  const categoryListJson = JSON.stringify(categorySlugs);
  return {
    name: 'catalog',
    authorize: () => true,
    routes: [
      route('GET', '/products', false, (ctx) => listProducts(products, ctx.query, true), listDrift),
      route(
        'GET',
        '/products/search',
        false,
        (ctx) => {
          const q = (single(ctx.query, 'q') ?? '').toLowerCase();
          const hits = q === '' ? products : products.filter((p) => searchText.get(p.id)!.includes(q));
          return listProducts(hits, ctx.query, q === '');
        },
        listDrift,
      ),
      route('GET', '/products/categories', false, (ctx) =>
        ok(categorySlugs.map((slug) => ({ slug, name: categoryName(slug), url: `${ctx.origin}/products/category/${slug}` }))),
      ),
      route('GET', '/products/category-list', false, () => okJson(categoryListJson)),
      route(
        'GET',
        '/products/category/:slug',
        false,
        (ctx) => listProducts(productsByCategory.get(ctx.params[0]!) ?? [], ctx.query, productsByCategory.has(ctx.params[0]!)),
        listDrift,
      ),
      route(
        'GET',
        '/products/:id',
        false,
        (ctx) => {
          const raw = ctx.params[0]!;
          const id = parsePositiveId(raw);
          const p = id === undefined ? undefined : productById.get(id);
          if (!p) return { status: 404, body: { message: `Product with id '${raw}' not found` } };
          const select = selectFields(ctx.query);
          return select === undefined ? okJson(productJson.get(p.id)!) : ok(project(p, select));
        },
        driftOne(d),
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// pricing
// ---------------------------------------------------------------------------------------------

const priceBySku: ReadonlyMap<string, PriceInfo> = new Map(products.map((p) => [p.sku, priceOf(p)]));

function pricing(): UpstreamDef {
  return {
    name: 'pricing',
    authorize: (ctx) => bearerIs(ctx, ctx.state.credentials.pricingToken),
    routes: [
      route(
        'GET',
        '/v1/prices',
        true,
        (ctx) => {
          const skus = new Set(csv(ctx.query, 'skus', 50));
          const prices: PriceInfo[] = [];
          for (const s of skus) {
            const p = priceBySku.get(s);
            if (p) prices.push(p);
          }
          return ok({ prices });
        },
        driftList('prices', DRIFTS.pricing as RecordDrift),
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// inventory
// ---------------------------------------------------------------------------------------------

const stockBySku: ReadonlyMap<string, StockInfo> = new Map(products.map((p) => [p.sku, stockOf(p)]));

function inventory(): UpstreamDef {
  return {
    name: 'inventory',
    authorize: (ctx) => apiKeyIs(ctx, ctx.state.credentials.inventoryApiKey),
    routes: [
      route(
        'POST',
        '/stock/lookup',
        true,
        (ctx) => {
          const body = jsonBody(ctx);
          const skus = body.skus;
          if (!Array.isArray(skus) || skus.some((s) => typeof s !== 'string')) throw bad("'skus' must be an array of strings");
          if (skus.length > 100) throw bad(`'skus' lists ${skus.length} values; at most 100 are allowed`);
          const items: StockInfo[] = [];
          for (const s of new Set(skus as string[])) {
            const it = stockBySku.get(s);
            if (it) items.push(it);
          }
          return ok({ items });
        },
        driftList('items', DRIFTS.inventory as RecordDrift),
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// reviews
// ---------------------------------------------------------------------------------------------

const reviewsByProduct: ReadonlyMap<number, readonly ReviewInfo[]> = new Map(products.map((p) => [p.id, reviewsOf(p.id)]));

function reviews(): UpstreamDef {
  return {
    name: 'reviews',
    authorize: (ctx) => bearerIs(ctx, ctx.state.credentials.reviewsToken),
    routes: [
      route(
        'GET',
        '/reviews',
        true,
        (ctx) => {
          const ids = csv(ctx.query, 'productIds', 100).map((s) => {
            const id = parsePositiveId(s);
            if (id === undefined) throw bad("query parameter 'productIds' must list positive integers");
            return id;
          });
          const out: ReviewInfo[] = [];
          for (const id of new Set(ids)) for (const r of reviewsByProduct.get(id) ?? []) out.push(r);
          return ok({ reviews: out });
        },
        driftList('reviews', DRIFTS.reviews as RecordDrift),
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// recommendations
// ---------------------------------------------------------------------------------------------

function recommendationsUpstream(): UpstreamDef {
  const idParam = (q: URLSearchParams, name: string, required: boolean): number | undefined => {
    const v = single(q, name);
    if (v === undefined) {
      if (required) throw bad(`query parameter '${name}' is required`);
      return undefined;
    }
    const id = parsePositiveId(v);
    if (id === undefined) throw bad(`query parameter '${name}' must be a positive integer`);
    return id;
  };
  return {
    name: 'recommendations',
    authorize: (ctx) => apiKeyIs(ctx, ctx.state.credentials.recommendationsApiKey),
    routes: [
      route(
        'GET',
        '/recommendations',
        true,
        (ctx) => {
          const productId = idParam(ctx.query, 'productId', true)!;
          const userId = idParam(ctx.query, 'userId', false);
          const limit = intParam(ctx.query, 'limit', RECOMMENDATIONS_DEFAULT_LIMIT, 1, RECOMMENDATIONS_MAX_LIMIT);
          const productIds =
            userId === undefined ? anonymousRecommendations(productId, limit) : personalisedRecommendations(productId, userId, limit);
          return ok({ productIds });
        },
        driftRecommendations,
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// shipping
// ---------------------------------------------------------------------------------------------

function formDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** Issues an access token; drops expired tokens from the front of the (expiry-ordered) store. */
function issueToken(state: UpstreamState): { token: string; ttl: number } {
  const now = state.now();
  for (const [t, exp] of state.tokens) {
    if (exp > now) break;
    state.tokens.delete(t);
  }
  const token = randomBytes(24).toString('base64url');
  state.tokens.set(token, now + state.tokenTtlS * 1000);
  return { token, ttl: state.tokenTtlS };
}

function shipping(): UpstreamDef {
  const unauthorized: Reply = { status: 401, body: { message: 'unauthorized' } };
  return {
    name: 'shipping',
    authorize: (ctx) => {
      const t = bearerToken(ctx.headers);
      if (t === undefined) return false;
      const exp = ctx.state.tokens.get(t);
      if (exp === undefined) return false;
      if (exp <= ctx.state.now()) {
        ctx.state.tokens.delete(t);
        return false;
      }
      return true;
    },
    routes: [
      route('POST', '/oauth/token', false, (ctx) => {
        // Body: application/x-www-form-urlencoded (RFC 6749) or JSON.
        const ct = (header(ctx.headers, 'content-type') ?? '').toLowerCase();
        const text = ctx.body.toString('utf8');
        let fields: Record<string, unknown>;
        if (ct.startsWith('application/json') || (!ct.includes('form-urlencoded') && text.trimStart().startsWith('{'))) {
          fields = jsonBody(ctx);
        } else {
          fields = Object.fromEntries(new URLSearchParams(text));
        }
        if (fields.grant_type !== 'client_credentials') {
          return { status: 400, body: { error: 'unsupported_grant_type', message: "grant_type must be 'client_credentials'" } };
        }
        let id: string | undefined;
        let secret: string | undefined;
        const basic = basicCredentials(ctx.headers);
        if (basic) [id, secret] = [formDecode(basic[0]), formDecode(basic[1])];
        else if (typeof fields.client_id === 'string' && typeof fields.client_secret === 'string') {
          [id, secret] = [fields.client_id, fields.client_secret];
        }
        const c = ctx.state.credentials;
        // Evaluate both comparisons (no short-circuit) to keep timing uniform.
        const idOk = safeEqual(id ?? '', c.shippingClientId);
        const secretOk = safeEqual(secret ?? '', c.shippingClientSecret);
        if (id === undefined || !idOk || !secretOk) return unauthorized;
        const { token, ttl } = issueToken(ctx.state);
        return {
          status: 200,
          body: { access_token: token, token_type: 'Bearer', expires_in: ttl },
          headers: { 'cache-control': 'no-store', pragma: 'no-cache' },
        };
      }),
      route(
        'POST',
        '/quotes',
        true,
        (ctx) => {
          const body = jsonBody(ctx);
          countryField(body);
          postcodeField(body);
          const items = body.items;
          if (!Array.isArray(items)) throw bad("'items' must be an array of {sku, quantity}");
          if (items.length > 100) throw bad(`'items' lists ${items.length} entries; at most 100 are allowed`);
          const clean: { sku: string; quantity: number }[] = [];
          for (const it of items as unknown[]) {
            if (!isObj(it) || typeof it.sku !== 'string') throw bad("each item must be an object with a string 'sku'");
            const qn = it.quantity;
            if (typeof qn !== 'number' || !Number.isSafeInteger(qn) || qn < 1 || qn > 1_000_000) {
              throw bad("each item's 'quantity' must be a positive integer (at most 1000000)");
            }
            clean.push({ sku: it.sku, quantity: qn });
          }
          return ok(shippingQuote(clean));
        },
        driftList('quotes', DRIFTS.shipping as RecordDrift),
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// tax
// ---------------------------------------------------------------------------------------------

function tax(): UpstreamDef {
  return {
    name: 'tax',
    authorize: (ctx) => {
      const b = basicCredentials(ctx.headers);
      const c = ctx.state.credentials;
      const userOk = safeEqual(b?.[0] ?? '', c.taxUsername);
      const passOk = safeEqual(b?.[1] ?? '', c.taxPassword);
      return b !== undefined && userOk && passOk;
    },
    routes: [
      route(
        'POST',
        '/v1/tax/quote',
        true,
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
        driftOne(DRIFTS.tax as RecordDrift),
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// accounts
// ---------------------------------------------------------------------------------------------

const userJson: ReadonlyMap<number, string> = new Map([...userById].map(([id, u]) => [id, JSON.stringify(u)]));

function accounts(): UpstreamDef {
  return {
    name: 'accounts',
    authorize: (ctx) => bearerIs(ctx, ctx.state.credentials.accountsToken),
    routes: [
      route(
        'GET',
        '/users/:id',
        true,
        (ctx) => {
          const raw = ctx.params[0]!;
          const id = parsePositiveId(raw);
          const json = id === undefined ? undefined : userJson.get(id);
          if (json === undefined) return { status: 404, body: { message: `User with id '${raw}' not found` } };
          return okJson(json);
        },
        driftOne(DRIFTS.accounts as RecordDrift),
      ),
    ],
  };
}

// ---------------------------------------------------------------------------------------------

const FACTORIES: Record<UpstreamName, () => UpstreamDef> = {
  catalog,
  pricing,
  inventory,
  reviews,
  recommendations: recommendationsUpstream,
  shipping,
  tax,
  accounts,
};

/** Builds an upstream's definition. */
export function upstreamDef(name: UpstreamName): UpstreamDef {
  return FACTORIES[name]();
}
