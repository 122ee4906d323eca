/**
 * Debug trace bodies masked by allow-list: a field's value is shown only when the endpoint's own
 * mapping reads it (`items`, `itemKey` and `map` of its definition), so whatever an upstream adds
 * (a username, an employer, a user agent) is masked without anyone listing it. Which fields the
 * mapping reads is learnt by replaying it over the body wrapped in a recording proxy: derived from
 * the definition itself, never from a hand-kept list. Then any absolute URL left in a shown string is
 * masked too: an upstream's links name its (internal) origin, which traces never show.
 *
 * Hand-written: no library derives the fields a function reads from its behaviour.
 */
import type { AnyEndpointDef } from '../connector/index.js';

/** What replaces a value the mapping does not read (and a URL). */
export const MASKED = '[masked]';

/** Any `scheme://…` run of characters: absolute URLs inside shown strings. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]*/gi;

/** A JSON pointer segment's path key. */
const child = (path: string, key: string): string => `${path}/${key}`;

/**
 * Wraps `value` so that every property read (at any depth) records its JSON pointer in `read`.
 * Primitives are returned as they are.
 */
function recording(value: unknown, path: string, read: Set<string>): unknown {
  if (value === null || typeof value !== 'object') return value;
  return new Proxy(value as object, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown;
      if (typeof key !== 'string') return v; // Symbol.iterator and the like
      if (Object.prototype.hasOwnProperty.call(target, key)) {
        const p = child(path, key);
        read.add(p);
        return recording(v, p, read);
      }
      // An absent optional field is read all the same; a prototype's method (arr.map) is not a field.
      if (!(key in target)) read.add(child(path, key));
      return v;
    },
    ownKeys(target) {
      // A spread or Object.keys reads every field.
      for (const k of Reflect.ownKeys(target)) if (typeof k === 'string') read.add(child(path, k));
      return Reflect.ownKeys(target);
    },
  });
}

/**
 * The JSON pointers of the body's fields the endpoint's mapping reads, by replaying it over the body.
 * A mapping that throws (a single endpoint's `map` needing its key) keeps what it read until then:
 * fewer fields shown, never more.
 */
export function fieldsRead(endpoint: AnyEndpointDef, body: unknown): Set<string> {
  const read = new Set<string>();
  const root = recording(body, '', read);
  try {
    if (endpoint.kind === 'batch') {
      for (const item of endpoint.items(root as never) ?? []) {
        endpoint.itemKey(item);
        endpoint.map(item);
      }
    } else {
      endpoint.map(root as never, undefined as never);
    }
  } catch {
    // keep what was read
  }
  return read;
}

/** `value` with every field not in `read` masked, and URLs inside shown strings masked. */
function keep(value: unknown, path: string, read: ReadonlySet<string>, depth: number): unknown {
  if (typeof value === 'string') return value.replace(URL_IN_TEXT, MASKED);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 32) return MASKED;
  // A container read whole (its fields not read one by one, e.g. `images: p.images`) is carried whole by the mapping.
  const prefix = `${path}/`;
  let anyChildRead = false;
  for (const p of read) {
    if (p.startsWith(prefix)) {
      anyChildRead = true;
      break;
    }
  }
  if (Array.isArray(value)) return value.map((x, i) => (!anyChildRead || read.has(child(path, String(i))) ? keep(x, child(path, String(i)), read, depth + 1) : MASKED));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(value as Record<string, unknown>)) out[k] = !anyChildRead || read.has(child(path, k)) ? keep(x, child(path, k), read, depth + 1) : MASKED;
  return out;
}

/**
 * A copy of an upstream response body showing only what the endpoint's mapping reads (every other
 * value masked, its key kept so the shape stays readable), and no URL. Without the endpoint's
 * definition nothing is shown.
 *
 * @example
 * allowListed(accounts.endpoints.userById, { id: 1, firstName: 'A', username: 'x' }) // { id: 1, firstName: 'A', username: '[masked]' }
 */
export function allowListed(endpoint: AnyEndpointDef | undefined, body: unknown): unknown {
  if (!endpoint) return MASKED;
  const read = fieldsRead(endpoint, body);
  if (!read.size) return body !== null && typeof body === 'object' ? MASKED : keep(body, '', read, 0);
  return keep(body, '', read, 0);
}
