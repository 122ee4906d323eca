import { TributaryError } from '../src/errors.js';

/** Money is carried as integer cents, so sums are exact; it is printed as a two-place decimal string. */

/** @mapper Money (the parent of `Money` resolvers: codegen.ts reads this tag) */
export interface MoneyValue {
  readonly cents: number;
  readonly currency: string;
}

/** Dollars (as upstreams send them, already rounded to cents) → integer cents. */
export const toCents = (dollars: number): number => Math.round(dollars * 100);

/** Refuses what is not a finite number (an upstream in `report` contract mode may send anything): never "NaN". */
export const money = (dollars: number, currency = 'USD'): MoneyValue => {
  if (typeof dollars !== 'number' || !Number.isFinite(dollars)) {
    throw new TributaryError('UPSTREAM_CONTRACT_VIOLATION', 'An upstream sent an amount that is not a number.');
  }
  return { cents: toCents(dollars), currency };
};

export const fromCents = (cents: number, currency = 'USD'): MoneyValue => ({ cents, currency });

/** 894 → "8.94"; -5 → "-0.05". */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}
