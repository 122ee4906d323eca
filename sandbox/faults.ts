/** Fault specifications: validation and the seeded PRNG that decides probabilistic faults. */
import type { DriftKind, FaultSpec, LostAnswer } from './types.js';

export class FaultSpecError extends Error {}

const FAULT_KEYS = new Set(['latencyMs', 'spike', 'error', 'reset', 'hang', 'malformed', 'trickle', 'down', 'drift', 'redirect', 'afterEffect', 'routes', 'times']);
const LOST_ANSWERS: readonly LostAnswer[] = ['hang', 'reset', 'error', 'delay'];
const DRIFT_KINDS: readonly DriftKind[] = ['rename', 'type', 'missing', 'extra'];
const MAX_MS = 3_600_000;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(msg: string): never {
  throw new FaultSpecError(msg);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) fail(`${where}: unknown field '${k}' (allowed: ${allowed.join(', ')})`);
}

function num(v: unknown, where: string, min: number, max: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isSafeInteger(v))) {
    fail(`${where} must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}`);
  }
  return v;
}

function sub(v: unknown, where: string, fields: Record<string, [min: number, max: number, integer: boolean, optional?: boolean]>): Record<string, number> {
  if (!isPlainObject(v)) fail(`${where} must be an object`);
  checkKeys(v, Object.keys(fields), where);
  const out: Record<string, number> = {};
  for (const [k, [min, max, integer, optional]] of Object.entries(fields)) {
    if (v[k] === undefined) {
      if (!optional) fail(`${where}.${k} is required`);
      continue;
    }
    out[k] = num(v[k], `${where}.${k}`, min, max, integer);
  }
  return out;
}

/**
 * Validates a fault spec (from JSON or code) and returns a clean copy.
 * @param routeKeys the upstream's business route keys, which `routes` entries must be among.
 * @throws FaultSpecError with a message that says what is wrong.
 */
export function validateFaultSpec(input: unknown, routeKeys: readonly string[]): FaultSpec {
  if (!isPlainObject(input)) fail('fault spec must be a JSON object');
  for (const k of Object.keys(input)) if (!FAULT_KEYS.has(k)) fail(`unknown fault field '${k}' (allowed: ${[...FAULT_KEYS].join(', ')})`);
  const out: FaultSpec = {};
  const p: [number, number, boolean] = [0, 1, false];
  if (input.latencyMs !== undefined) out.latencyMs = num(input.latencyMs, 'latencyMs', 0, MAX_MS);
  if (input.spike !== undefined) out.spike = sub(input.spike, 'spike', { probability: p, ms: [0, MAX_MS, false] }) as FaultSpec['spike'];
  if (input.error !== undefined) {
    out.error = sub(input.error, 'error', { probability: p, status: [400, 599, true], retryAfterS: [0, 86_400, true, true] }) as FaultSpec['error'];
  }
  if (input.reset !== undefined) out.reset = sub(input.reset, 'reset', { probability: p }) as FaultSpec['reset'];
  if (input.hang !== undefined) out.hang = sub(input.hang, 'hang', { probability: p }) as FaultSpec['hang'];
  if (input.malformed !== undefined) out.malformed = sub(input.malformed, 'malformed', { probability: p }) as FaultSpec['malformed'];
  if (input.trickle !== undefined) {
    out.trickle = sub(input.trickle, 'trickle', { bytesPerChunk: [1, 1 << 20, true], intervalMs: [0, 60_000, false] }) as FaultSpec['trickle'];
  }
  if (input.down !== undefined) {
    if (typeof input.down !== 'boolean') fail('down must be a boolean');
    out.down = input.down;
  }
  if (input.drift !== undefined) {
    if (!DRIFT_KINDS.includes(input.drift as DriftKind)) fail(`drift must be one of ${DRIFT_KINDS.join(', ')}`);
    out.drift = input.drift as DriftKind;
  }
  if (input.redirect !== undefined) {
    let u: URL | undefined;
    try {
      u = typeof input.redirect === 'string' ? new URL(input.redirect) : undefined;
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) fail('redirect must be an absolute http(s) URL (an origin, e.g. "http://127.0.0.1:9999")');
    out.redirect = (input.redirect as string).replace(/\/+$/, '');
  }
  if (input.afterEffect !== undefined) {
    const a = input.afterEffect;
    if (!isPlainObject(a)) fail('afterEffect must be an object');
    checkKeys(a, ['probability', 'outcome', 'status', 'delayMs'], 'afterEffect');
    if (!LOST_ANSWERS.includes(a.outcome as LostAnswer)) fail(`afterEffect.outcome must be one of ${LOST_ANSWERS.join(', ')}`);
    out.afterEffect = { probability: num(a.probability, 'afterEffect.probability', 0, 1), outcome: a.outcome as LostAnswer };
    if (a.status !== undefined) out.afterEffect.status = num(a.status, 'afterEffect.status', 400, 599, true);
    if (a.delayMs !== undefined) out.afterEffect.delayMs = num(a.delayMs, 'afterEffect.delayMs', 0, MAX_MS);
  }
  if (input.times !== undefined) out.times = num(input.times, 'times', 1, 1_000_000_000, true);
  if (input.routes !== undefined) {
    if (!Array.isArray(input.routes) || input.routes.some((r) => typeof r !== 'string')) fail('routes must be an array of route keys');
    for (const r of input.routes as string[]) {
      if (!routeKeys.includes(r)) fail(`unknown route '${r}' (routes of this upstream: ${routeKeys.join(', ')})`);
    }
    out.routes = [...(input.routes as string[])];
  }
  return out;
}

/** mulberry32: a small, fast, seedable PRNG returning floats in [0, 1). */
export function createPrng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
