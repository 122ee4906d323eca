/**
 * Expected answers computed straight from the DummyJSON data set by the data rules of sandbox/README.md,
 * independently of the sandbox's own code, so the two check each other.
 */
import { readFileSync } from 'node:fs';

export interface RawProduct {
  id: number;
  title: string;
  description: string;
  category: string;
  price: number;
  discountPercentage: number;
  rating: number;
  stock: number;
  brand?: string;
  sku: string;
  weight: number;
  shippingInformation: string;
  availabilityStatus: string;
  reviews: { rating: number; comment: string; date: string; reviewerName: string; reviewerEmail: string }[];
  images: string[];
  thumbnail: string;
}

export const products: RawProduct[] = JSON.parse(readFileSync(new URL('../../data/dummyjson/products.json', import.meta.url), 'utf8'));
export const users: any[] = JSON.parse(readFileSync(new URL('../../data/dummyjson/users.json', import.meta.url), 'utf8'));
export const byId = new Map(products.map((p) => [String(p.id), p]));

/** Half-up rounding to cents of a decimal computed exactly in integer arithmetic. */
export function saleCents(p: RawProduct): number {
  // price in cents × (10000 − discount in basis points) / 10000, half-up
  const priceCents = Math.round(p.price * 100);
  const bp = Math.round(p.discountPercentage * 100);
  const num = priceCents * (10_000 - bp);
  return Math.floor((num + 5_000) / 10_000);
}

export const fmt = (cents: number): string => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
export const usd = (cents: number) => ({ amount: fmt(cents), currencyCode: 'USD' });

export function status(p: RawProduct): string {
  return ({ 'In Stock': 'IN_STOCK', 'Low Stock': 'LOW_STOCK', 'Out of Stock': 'OUT_OF_STOCK' } as Record<string, string>)[p.availabilityStatus]!;
}

export function shipping(p: RawProduct): { carrier: string; minDays: number; maxDays: number; costCents: number } {
  const table: Record<string, [number, number]> = {
    'Ships overnight': [1, 1],
    'Ships in 1-2 business days': [1, 2],
    'Ships in 3-5 business days': [3, 5],
    'Ships in 1 week': [7, 7],
    'Ships in 2 weeks': [14, 14],
    'Ships in 1 month': [30, 30],
  };
  const [minDays, maxDays] = table[p.shippingInformation]!;
  return {
    carrier: p.shippingInformation === 'Ships overnight' ? 'EXPRESS' : 'STANDARD',
    minDays,
    maxDays,
    costCents: 499 + Math.round(p.weight * 50),
  };
}

export const TAX: Record<string, number> = { US: 0.0725, GB: 0.2, DE: 0.19, FR: 0.2 };

export function taxCents(country: string, amountCents: number): number {
  const bp = Math.round((TAX[country.toUpperCase()] ?? 0) * 10_000);
  return Math.floor((amountCents * bp + 5_000) / 10_000);
}

export function anonymousRecommendations(id: number, limit = 4): number[] {
  const p = byId.get(String(id));
  if (!p) return [];
  return products
    .filter((q) => q.category === p.category && q.id !== p.id)
    .sort((a, b) => b.rating - a.rating || a.id - b.id)
    .slice(0, limit)
    .map((q) => q.id);
}

export function categoryName(slug: string): string {
  return slug
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ');
}
