/**
 * How a key becomes the string that identifies it (DataLoader's cache key, the cache key's last
 * part, the key an item of a batch answers): the endpoint's own `keyId`, or this default.
 */

/** JSON with sorted object keys, so equal keys give equal ids whatever their property order. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .filter((k) => o[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(',')}}`;
}

/** A scalar key is its own id; an object key is its stable JSON. */
export const defaultKeyId = (key: unknown): string => (typeof key === 'object' && key !== null ? stableStringify(key) : String(key));
