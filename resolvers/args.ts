/** Argument checks shared by resolvers: a clear BAD_USER_INPUT instead of a strange upstream answer. */
import { BadUserInputError } from '../src/errors.js';

export function intInRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new BadUserInputError(`"${name}" must be an integer from ${min} to ${max} (got ${value}).`, { argument: name });
  }
  return value;
}

/** ISO 3166-1 alpha-2, case-insensitive; returned upper-case. */
export function countryCode(value: string): string {
  if (!/^[A-Za-z]{2}$/.test(value)) {
    throw new BadUserInputError('"country" must be an ISO 3166-1 alpha-2 code such as "US".', { argument: 'country' });
  }
  return value.toUpperCase();
}

export function postcode(value: string): string {
  const v = value.trim();
  if (v.length === 0 || v.length > 16 || !/^[A-Za-z0-9 -]+$/.test(v)) {
    throw new BadUserInputError('"postcode" must be 1 to 16 letters, digits, spaces or hyphens.', { argument: 'postcode' });
  }
  return v;
}
