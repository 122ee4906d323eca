import { TributaryError } from '../src/errors.js';

/**
 * Money is carried as integer cents, so sums are exact; it is printed as a two-place decimal string.
 * Every amount is a safe integer of cents (|cents| ≤ 2^53 − 1): products and sums are checked
 * (`mulCents`, `addCents`), so an amount is exact or refused, never rounded by floating point.
 */

/** @mapper Money (the parent of `Money` resolvers: codegen.ts reads this tag) */
export interface MoneyValue {
  readonly cents: number;
  readonly currency: string;
}

/** An amount that does not fit exactly in integer cents (a sum past 2^53 cents). */
export class MoneyOverflowError extends TributaryError {
  constructor() {
    super('BAD_USER_INPUT', 'The amount is too large to be computed exactly.');
    this.name = 'MoneyOverflowError';
  }
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/;

/**
 * Dollars (a JSON number, as upstreams send them) → integer cents, rounded half-up (away from zero)
 * on the number's decimal digits. Hand-written because `Math.round(d * 100)` rounds the binary
 * product (1.005 × 100 is 100.49999…, so 1.005 would become 100 cents): the shortest decimal string
 * of a double (`String(1.005)`) is the value the upstream wrote, and rounding on its digits is exact.
 */
export function toCents(dollars: number): number {
  if (!Number.isFinite(dollars)) throw new TributaryError('UPSTREAM_CONTRACT_VIOLATION', 'An upstream sent an amount that is not a number.');
  const m = DECIMAL.exec(String(dollars));
  if (!m) throw new TributaryError('UPSTREAM_CONTRACT_VIOLATION', 'An upstream sent an amount that is not a number.');
  const [, sign, int, frac = '', exp = '0'] = m;
  // The digits and where the decimal point falls once the exponent is applied.
  const digits = `${int}${frac}`;
  const point = int!.length + Number(exp);
  // Cents = the digits up to two places after the point; the next digit decides the rounding.
  const upTo = point + 2;
  let whole: bigint;
  let next = 0;
  if (upTo <= 0) whole = 0n;
  else if (upTo >= digits.length) whole = BigInt(digits) * 10n ** BigInt(upTo - digits.length);
  else whole = BigInt(digits.slice(0, upTo));
  if (upTo >= 0 && upTo < digits.length) next = Number(digits[upTo]);
  if (next >= 5) whole += 1n;
  const cents = sign === '-' && whole !== 0n ? -whole : whole;
  if (cents > BigInt(Number.MAX_SAFE_INTEGER) || cents < -BigInt(Number.MAX_SAFE_INTEGER)) throw new MoneyOverflowError();
  return Number(cents);
}

/** `cents × quantity`, exact, or refused (`MoneyOverflowError`) past 2^53 − 1 cents. */
export function mulCents(cents: number, quantity: number): number {
  const r = cents * quantity;
  if (!Number.isSafeInteger(r)) throw new MoneyOverflowError();
  return r;
}

/** The sum of amounts in cents, exact, or refused (`MoneyOverflowError`) past 2^53 − 1 cents. */
export function addCents(...amounts: number[]): number {
  let sum = 0;
  for (const a of amounts) {
    sum += a;
    // Each partial sum of safe integers below 2^53 is exact; past it, refuse before precision is lost.
    if (!Number.isSafeInteger(sum)) throw new MoneyOverflowError();
  }
  return sum;
}

/** Refuses what is not a finite number (an upstream in `report` contract mode may send anything): never "NaN". */
export const money = (dollars: number, currency = 'USD'): MoneyValue => {
  if (typeof dollars !== 'number' || !Number.isFinite(dollars)) {
    throw new TributaryError('UPSTREAM_CONTRACT_VIOLATION', 'An upstream sent an amount that is not a number.');
  }
  return { cents: toCents(dollars), currency };
};

export const fromCents = (cents: number, currency = 'USD'): MoneyValue => ({ cents, currency });

/** Cents → dollars as a JSON number for an upstream (`amount`): exact for every safe integer of cents. */
export const centsToDollars = (cents: number): number => Number(formatCents(cents));

/** 894 → "8.94"; -5 → "-0.05". */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}
