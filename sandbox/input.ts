/** Strict input helpers of the sandbox handlers: a bad value is a 400 saying what is wrong. */
import { HttpError } from './descriptor.js';
import type { Ctx } from './descriptor.js';

export const bad = (message: string): HttpError => new HttpError(400, message);

export function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function single(q: URLSearchParams, name: string): string | undefined {
  const all = q.getAll(name);
  if (all.length > 1) throw bad(`query parameter '${name}' must be given at most once`);
  return all[0];
}

export function intParam(q: URLSearchParams, name: string, def: number, min: number, max: number): number {
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

export function csv(q: URLSearchParams, name: string, max: number): string[] {
  const v = single(q, name);
  if (v === undefined) throw bad(`query parameter '${name}' is required`);
  const items = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length > max) throw bad(`query parameter '${name}' lists ${items.length} values; at most ${max} are allowed`);
  return items;
}

export function jsonBody(ctx: Ctx): Record<string, unknown> {
  if (ctx.body.length === 0) throw bad('request body must be a JSON object');
  let v: unknown;
  try {
    v = JSON.parse(ctx.body.toString('utf8'));
  } catch {
    throw bad('request body is not valid JSON');
  }
  if (!isObj(v)) throw bad('request body must be a JSON object');
  return v;
}

export function countryField(body: Record<string, unknown>): string {
  const c = body.country;
  if (typeof c !== 'string' || !/^[A-Za-z]{2}$/.test(c)) throw bad("'country' must be an ISO 3166-1 alpha-2 code (two letters)");
  return c.toUpperCase();
}

export function postcodeField(body: Record<string, unknown>): string {
  const p = body.postcode;
  if (typeof p !== 'string' || p.length > 32) throw bad("'postcode' must be a string of at most 32 characters");
  return p;
}

/** An integer field between min and max. */
export function intField(body: Record<string, unknown>, name: string, min: number, max: number): number {
  const v = body[name];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(`'${name}' must be an integer between ${min} and ${max}`);
  return v;
}

/** A non-empty string field of at most `max` characters. */
export function stringField(body: Record<string, unknown>, name: string, max = 200): string {
  const v = body[name];
  if (typeof v !== 'string' || v === '' || v.length > max) throw bad(`'${name}' must be a non-empty string of at most ${max} characters`);
  return v;
}

/** `items: [{sku, quantity}]`, 1..`max` lines, quantities 1..1,000,000. */
export function skuLines(body: Record<string, unknown>, name: string, max: number, min = 0): { sku: string; quantity: number }[] {
  const items = body[name];
  if (!Array.isArray(items)) throw bad(`'${name}' must be an array of {sku, quantity}`);
  if (items.length > max) throw bad(`'${name}' lists ${items.length} entries; at most ${max} are allowed`);
  if (items.length < min) throw bad(`'${name}' must list at least ${min} ${min === 1 ? 'entry' : 'entries'}`);
  return items.map((it: unknown) => {
    if (!isObj(it) || typeof it.sku !== 'string') throw bad(`each of '${name}' must be an object with a string 'sku'`);
    const qn = it.quantity;
    if (typeof qn !== 'number' || !Number.isSafeInteger(qn) || qn < 1 || qn > 1_000_000) {
      throw bad(`each of '${name}' must have a 'quantity' that is a positive integer (at most 1000000)`);
    }
    return { ...it, sku: it.sku, quantity: qn };
  });
}
