/**
 * The sandbox shop's data set (DummyJSON: products, users, carts; MIT, see data/dummyjson/LICENSE)
 * and the data rules of sandbox/README.md ("Data rules"), exported so that tests can compute every expected
 * upstream answer from the data set.
 *
 * Everything is loaded and indexed once, when this module is first imported.
 */
import { readFileSync } from 'node:fs';
import { PROJECT_ROOT } from '../src/paths.js';

// ---------------------------------------------------------------------------------------------
// Types of the data set
// ---------------------------------------------------------------------------------------------

export interface ProductReview {
  rating: number;
  comment: string;
  date: string;
  reviewerName: string;
  reviewerEmail: string;
}

/** A DummyJSON product, exactly as in products.json. */
export interface Product {
  id: number;
  title: string;
  description: string;
  /** The category slug, e.g. "home-decoration". */
  category: string;
  /** List price in USD. */
  price: number;
  discountPercentage: number;
  rating: number;
  stock: number;
  tags: string[];
  /** Absent on some products. */
  brand?: string;
  sku: string;
  weight: number;
  dimensions: { width: number; height: number; depth: number };
  warrantyInformation: string;
  shippingInformation: string;
  availabilityStatus: string;
  reviews: ProductReview[];
  returnPolicy: string;
  minimumOrderQuantity: number;
  meta: { createdAt: string; updatedAt: string; barcode: string; qrCode: string };
  images: string[];
  thumbnail: string;
  [key: string]: unknown;
}

/** A DummyJSON user (sensitive fields such as password, ssn, bank and crypto included, on purpose). */
export interface User {
  id: number;
  firstName: string;
  lastName: string;
  email: string;
  username: string;
  [key: string]: unknown;
}

export interface CartProduct {
  id: number;
  title: string;
  price: number;
  quantity: number;
  total: number;
  discountPercentage: number;
  discountedTotal: number;
  thumbnail: string;
}

export interface Cart {
  id: number;
  userId: number;
  products: CartProduct[];
  total: number;
  discountedTotal: number;
  totalProducts: number;
  totalQuantity: number;
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/** Directory holding products.json, users.json, carts.json and LICENSE. */
export const DATA_DIR = new URL('data/dummyjson/', PROJECT_ROOT);

function loadArray<T>(file: string, key: string): T[] {
  const parsed: unknown = JSON.parse(readFileSync(new URL(file, DATA_DIR), 'utf8'));
  if (Array.isArray(parsed)) return parsed as T[];
  const inner = (parsed as Record<string, unknown> | null)?.[key];
  if (Array.isArray(inner)) return inner as T[];
  throw new Error(`sandbox data: ${file} holds neither an array nor {${key}: [...]}`);
}

/** All products, in data-set order (by id). */
export const products: readonly Product[] = loadArray<Product>('products.json', 'products');
/** All users, in data-set order (by id). */
export const users: readonly User[] = loadArray<User>('users.json', 'users');
/** All carts, in data-set order (by id). */
export const carts: readonly Cart[] = loadArray<Cart>('carts.json', 'carts');

// ---------------------------------------------------------------------------------------------
// Indexes
// ---------------------------------------------------------------------------------------------

/** Product by id. */
export const productById: ReadonlyMap<number, Product> = new Map(products.map((p) => [p.id, p]));
/** Product by SKU. */
export const productBySku: ReadonlyMap<string, Product> = new Map(products.map((p) => [p.sku, p]));
/** User by id. */
export const userById: ReadonlyMap<number, User> = new Map(users.map((u) => [u.id, u]));

/** Category slugs, sorted alphabetically (the DummyJSON `category-list`). */
export const categorySlugs: readonly string[] = [...new Set(products.map((p) => p.category))].sort();

/** Products of each category, in data-set order. */
export const productsByCategory: ReadonlyMap<string, readonly Product[]> = (() => {
  const m = new Map<string, Product[]>();
  for (const slug of categorySlugs) m.set(slug, []);
  for (const p of products) m.get(p.category)!.push(p);
  return m;
})();

/** Carts of each user, in data-set order. */
export const cartsByUserId: ReadonlyMap<number, readonly Cart[]> = (() => {
  const m = new Map<number, Cart[]>();
  for (const c of carts) {
    const list = m.get(c.userId);
    if (list) list.push(c);
    else m.set(c.userId, [c]);
  }
  return m;
})();

/**
 * A category's display name: the slug's words (split on "-") with their first letter upper-cased
 * ("home-decoration" -> "Home Decoration").
 */
export function categoryName(slug: string): string {
  return slug
    .split('-')
    .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w))
    .join(' ');
}

// ---------------------------------------------------------------------------------------------
// Exact decimal arithmetic (money)
// ---------------------------------------------------------------------------------------------

/** A decimal value `n / 10^scale`, exact. */
interface Dec {
  n: bigint;
  scale: number;
}

/** The exact decimal value of a number's shortest representation (`String(x)`, e.g. 9.99 -> 999/10^2). */
function toDec(x: number): Dec {
  if (!Number.isFinite(x)) throw new RangeError(`not a finite number: ${x}`);
  const s = String(x);
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(s);
  if (!m) throw new RangeError(`cannot read number ${s}`);
  const frac = m[3] ?? '';
  let n = BigInt(m[2]! + frac);
  let scale = frac.length - Number(m[4] ?? '0');
  if (scale < 0) {
    n *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { n: m[1] === '-' ? -n : n, scale };
}

function align(a: Dec, b: Dec): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  return [a.n * 10n ** BigInt(scale - a.scale), b.n * 10n ** BigInt(scale - b.scale), scale];
}

function decMul(a: Dec, b: Dec): Dec {
  return { n: a.n * b.n, scale: a.scale + b.scale };
}

function decSub(a: Dec, b: Dec): Dec {
  const [x, y, scale] = align(a, b);
  return { n: x - y, scale };
}

function decAdd(a: Dec, b: Dec): Dec {
  const [x, y, scale] = align(a, b);
  return { n: x + y, scale };
}

/** Divides by 10^k exactly (k >= 0). */
function decShift(a: Dec, k: number): Dec {
  return { n: a.n, scale: a.scale + k };
}

/** Rounds to cents, ties away from zero (i.e. half-up on the magnitude), and returns a number. */
function decToCents(a: Dec): number {
  let cents: bigint;
  if (a.scale <= 2) {
    cents = a.n * 10n ** BigInt(2 - a.scale);
  } else {
    const d = 10n ** BigInt(a.scale - 2);
    const mag = a.n < 0n ? -a.n : a.n;
    const q = (mag * 2n + d) / (2n * d); // floor(mag/d + 1/2)
    cents = a.n < 0n ? -q : q;
  }
  // Cents -> dollars via the decimal string, so that the result is the nearest double to x.yz.
  const neg = cents < 0n;
  const digits = (neg ? -cents : cents).toString().padStart(3, '0');
  const v = Number(`${digits.slice(0, -2)}.${digits.slice(-2)}`);
  return neg && v !== 0 ? -v : v;
}

/**
 * Rounds a money value to cents, exactly half-up (ties away from zero), reading the number as the
 * decimal it prints as: `roundHalfUpCents(1.005) === 1.01`, `roundHalfUpCents(8.943048) === 8.94`.
 * Do not feed it the float result of a multiplication when the exact product matters: use
 * {@link multiplyRoundCents} instead.
 */
export function roundHalfUpCents(x: number): number {
  return decToCents(toDec(x));
}

/**
 * The exact decimal product of the factors (each read as the decimal it prints as), rounded
 * half-up to cents: `multiplyRoundCents(0.0725, 100) === 7.25`, `multiplyRoundCents(6.99, 2) === 13.98`.
 */
export function multiplyRoundCents(...factors: number[]): number {
  let acc: Dec = { n: 1n, scale: 0 };
  for (const f of factors) acc = decMul(acc, toDec(f));
  return decToCents(acc);
}

/** The exact decimal sum of the values, rounded half-up to cents. */
export function sumRoundCents(values: Iterable<number>): number {
  let acc: Dec = { n: 0n, scale: 0 };
  for (const v of values) acc = decAdd(acc, toDec(v));
  return decToCents(acc);
}

// ---------------------------------------------------------------------------------------------
// Pricing
// ---------------------------------------------------------------------------------------------

/** Pricing currency (always USD). */
export const CURRENCY = 'USD';

/**
 * Sale price rule: list price x (100 - discountPercentage) / 100, computed exactly and rounded
 * half-up to cents. `salePrice(9.99, 10.48) === 8.94`.
 */
export function salePrice(listPrice: number, discountPercentage: number): number {
  return decToCents(decShift(decMul(toDec(listPrice), decSub(toDec(100), toDec(discountPercentage))), 2));
}

/** The pricing upstream's answer for one product. */
export interface PriceInfo {
  sku: string;
  currency: 'USD';
  list: number;
  sale: number;
  discountPercentage: number;
}

/** The price entry of a product (`list` = DummyJSON `price`, `sale` by {@link salePrice}). */
export function priceOf(product: Product): PriceInfo {
  return {
    sku: product.sku,
    currency: 'USD',
    list: product.price,
    sale: salePrice(product.price, product.discountPercentage),
    discountPercentage: product.discountPercentage,
  };
}

// ---------------------------------------------------------------------------------------------
// Inventory
// ---------------------------------------------------------------------------------------------

export type StockStatus = 'IN_STOCK' | 'LOW_STOCK' | 'OUT_OF_STOCK';

const STATUS_MAP: Record<string, StockStatus> = {
  'In Stock': 'IN_STOCK',
  'Low Stock': 'LOW_STOCK',
  'Out of Stock': 'OUT_OF_STOCK',
};

/**
 * Availability status rule: "In Stock" -> IN_STOCK, "Low Stock" -> LOW_STOCK,
 * "Out of Stock" -> OUT_OF_STOCK (anything else, which the data set does not contain, -> OUT_OF_STOCK).
 */
export function stockStatus(availabilityStatus: string): StockStatus {
  return STATUS_MAP[availabilityStatus] ?? 'OUT_OF_STOCK';
}

/** The inventory upstream's answer for one product (`onHand` = DummyJSON `stock`). */
export interface StockInfo {
  sku: string;
  onHand: number;
  status: StockStatus;
}

export function stockOf(product: Product): StockInfo {
  return { sku: product.sku, onHand: product.stock, status: stockStatus(product.availabilityStatus) };
}

// ---------------------------------------------------------------------------------------------
// Shipping
// ---------------------------------------------------------------------------------------------

export type Carrier = 'EXPRESS' | 'STANDARD';

export interface ShippingDays {
  carrier: Carrier;
  minDays: number;
  maxDays: number;
}

const SHIPPING_DAYS: Record<string, ShippingDays> = {
  'Ships overnight': { carrier: 'EXPRESS', minDays: 1, maxDays: 1 },
  'Ships in 1-2 business days': { carrier: 'STANDARD', minDays: 1, maxDays: 2 },
  'Ships in 3-5 business days': { carrier: 'STANDARD', minDays: 3, maxDays: 5 },
  'Ships in 1 week': { carrier: 'STANDARD', minDays: 7, maxDays: 7 },
  'Ships in 2 weeks': { carrier: 'STANDARD', minDays: 14, maxDays: 14 },
  'Ships in 1 month': { carrier: 'STANDARD', minDays: 30, maxDays: 30 },
};

/**
 * Shipping days and carrier from `shippingInformation`: "Ships overnight" 1-1 EXPRESS;
 * "Ships in 1-2 business days" 1-2, "Ships in 3-5 business days" 3-5, "Ships in 1 week" 7-7,
 * "Ships in 2 weeks" 14-14, "Ships in 1 month" 30-30, all STANDARD. Unknown text (not in the data
 * set) -> STANDARD 30-30.
 */
export function shippingDays(shippingInformation: string): ShippingDays {
  const d = SHIPPING_DAYS[shippingInformation] ?? { carrier: 'STANDARD', minDays: 30, maxDays: 30 };
  return { ...d };
}

/** Shipping cost per unit rule: 4.99 + 0.50 x weight, exact, rounded half-up to cents. */
export function shippingUnitCost(weight: number): number {
  return decToCents(decAdd(toDec(4.99), decMul(toDec(0.5), toDec(weight))));
}

/** One line of a shipping quote (cost is per unit). */
export interface ShippingQuoteLine {
  sku: string;
  carrier: Carrier;
  minDays: number;
  maxDays: number;
  cost: number;
}

/** The shipping quote line of a product (what a product page's `shippingEstimate` is, for one unit). */
export function shippingQuoteOf(product: Product): ShippingQuoteLine {
  const d = shippingDays(product.shippingInformation);
  return { sku: product.sku, carrier: d.carrier, minDays: d.minDays, maxDays: d.maxDays, cost: shippingUnitCost(product.weight) };
}

/**
 * A shipping quote for items: one line per known SKU (unknown SKUs left out; a SKU asked twice
 * gets one line, its quantities added up), total = sum of cost x quantity, exact, rounded half-up
 * to cents.
 */
export function shippingQuote(items: readonly { sku: string; quantity: number }[]): { quotes: ShippingQuoteLine[]; total: number } {
  const quantities = new Map<string, number>();
  for (const it of items) {
    if (!productBySku.has(it.sku)) continue;
    quantities.set(it.sku, (quantities.get(it.sku) ?? 0) + it.quantity);
  }
  const quotes: ShippingQuoteLine[] = [];
  let total: Dec = { n: 0n, scale: 0 };
  for (const [sku, quantity] of quantities) {
    const line = shippingQuoteOf(productBySku.get(sku)!);
    quotes.push(line);
    total = decAdd(total, decMul(toDec(line.cost), toDec(quantity)));
  }
  return { quotes, total: decToCents(total) };
}

// ---------------------------------------------------------------------------------------------
// Tax
// ---------------------------------------------------------------------------------------------

/** Tax rates by ISO 3166-1 alpha-2 country (upper case); every other country has rate 0. */
export const TAX_RATES: Readonly<Record<string, number>> = { US: 0.0725, GB: 0.2, DE: 0.19, FR: 0.2 };

/** Tax rate rule: US 0.0725, GB 0.20, DE 0.19, FR 0.20, any other country 0 (case-insensitive). */
export function taxRate(country: string): number {
  return TAX_RATES[country.toUpperCase()] ?? 0;
}

/** Tax rule: rate x amount, exact, rounded half-up to cents. `taxQuote('US', 100)` -> {rate: 0.0725, tax: 7.25}. */
export function taxQuote(country: string, amount: number): { rate: number; tax: number } {
  const rate = taxRate(country);
  return { rate, tax: multiplyRoundCents(rate, amount) };
}

// ---------------------------------------------------------------------------------------------
// Reviews
// ---------------------------------------------------------------------------------------------

/** A review as the reviews upstream answers it. */
export interface ReviewInfo extends ProductReview {
  productId: number;
}

/** The reviews of a product, in data-set order ([] for an unknown id). */
export function reviewsOf(productId: number): ReviewInfo[] {
  const p = productById.get(productId);
  if (!p) return [];
  return p.reviews.map((r) => ({
    productId: p.id,
    rating: r.rating,
    comment: r.comment,
    date: r.date,
    reviewerName: r.reviewerName,
    reviewerEmail: r.reviewerEmail,
  }));
}

// ---------------------------------------------------------------------------------------------
// Recommendations
// ---------------------------------------------------------------------------------------------

/** Default and maximum `limit` of the recommendations upstream. */
export const RECOMMENDATIONS_DEFAULT_LIMIT = 4;
export const RECOMMENDATIONS_MAX_LIMIT = 50;

/** Highest rating first, then lowest id. */
function byRatingThenId(a: Product, b: Product): number {
  return b.rating - a.rating || a.id - b.id;
}

/** For each product: every other product of its category, highest rating first, then lowest id. */
const anonymousRanking: ReadonlyMap<number, readonly number[]> = (() => {
  const m = new Map<number, number[]>();
  for (const list of productsByCategory.values()) {
    const ranked = [...list].sort(byRatingThenId);
    for (const p of list) m.set(p.id, ranked.filter((q) => q.id !== p.id).map((q) => q.id));
  }
  return m;
})();

/** For each user: the distinct product ids of their carts, ranked highest rating first, then lowest id. */
const userCartRanking: ReadonlyMap<number, readonly Product[]> = (() => {
  const m = new Map<number, Product[]>();
  for (const [userId, list] of cartsByUserId) {
    const seen = new Map<number, Product>();
    for (const c of list) for (const cp of c.products) {
      const p = productById.get(cp.id);
      if (p) seen.set(p.id, p);
    }
    m.set(userId, [...seen.values()].sort(byRatingThenId));
  }
  return m;
})();

/**
 * Anonymous recommendations: up to `limit` other products of the same category as `productId`,
 * highest rating first, then lowest id. Unknown `productId` -> [].
 * `anonymousRecommendations(1, 4)` -> [3, 4, 5, 2].
 */
export function anonymousRecommendations(productId: number, limit: number = RECOMMENDATIONS_DEFAULT_LIMIT): number[] {
  return (anonymousRanking.get(productId) ?? []).slice(0, Math.max(0, limit));
}

/**
 * Personalised recommendations: a mix of "buy it again" (the user's carts in carts.json read as
 * their order history) and "more like this" (the anonymous list). With `cart` = the distinct
 * products of the user's carts except `productId`, ordered: same category as `productId` first,
 * then the others, each group by highest rating first, then lowest id:
 *  1. the first ceil(limit / 2) products of `cart`,
 *  2. then the anonymous list for `productId`,
 *  3. then the rest of `cart`,
 * without duplicates, cut to `limit`.
 * Unknown `productId` -> []; unknown user or a user without carts -> the anonymous list.
 */
export function personalisedRecommendations(productId: number, userId: number, limit: number = RECOMMENDATIONS_DEFAULT_LIMIT): number[] {
  const product = productById.get(productId);
  if (!product) return [];
  const ranked = userCartRanking.get(userId);
  if (!ranked || !userById.has(userId)) return anonymousRecommendations(productId, limit);
  const cart = [
    ...ranked.filter((p) => p.category === product.category && p.id !== productId),
    ...ranked.filter((p) => p.category !== product.category),
  ].map((p) => p.id);
  const personalShare = Math.ceil(limit / 2);
  const out: number[] = [];
  const seen = new Set<number>([productId]);
  const take = (ids: readonly number[], max: number): void => {
    for (const id of ids) {
      if (out.length >= max) return;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(id);
    }
  };
  take(cart, Math.min(limit, personalShare));
  take(anonymousRanking.get(productId) ?? [], limit);
  take(cart, limit);
  return out;
}

/** The recommendations upstream's rule: personalised when `userId` is given, anonymous otherwise. */
export function recommendations(productId: number, userId?: number, limit: number = RECOMMENDATIONS_DEFAULT_LIMIT): number[] {
  return userId === undefined ? anonymousRecommendations(productId, limit) : personalisedRecommendations(productId, userId, limit);
}
