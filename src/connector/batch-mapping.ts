/**
 * Batch-to-key mapping: which value of a batch answer belongs to which key, in key order (DataLoader
 * wants one value per key, in the order asked). A key with no item is null (`one`) or [] (`many`).
 */
import type { BatchEndpointDef } from './types.js';

type AnyBatchDef = BatchEndpointDef<unknown, any, unknown, unknown, 'one' | 'many'>;

/** Does item i answer key i, for every key? */
function inKeyOrder(items: readonly unknown[], keys: readonly unknown[], itemKey: (item: any) => string, keyId: (key: unknown) => string): boolean {
  if (items.length !== keys.length) return false;
  for (let i = 0; i < keys.length; i++) if (itemKey(items[i]) !== keyId(keys[i])) return false;
  return true;
}

/** The mapped value of every key, in key order, from the items of one validated batch answer. */
export function valuesByKey(def: AnyBatchDef, keyId: (key: unknown) => string, keys: readonly unknown[], items: readonly unknown[]): unknown[] {
  const many = def.cardinality === 'many';
  if (!many && inKeyOrder(items, keys, def.itemKey, keyId)) {
    // One item per key, in the order asked (what batch upstreams usually answer): no index needed.
    return items.map((item) => def.map(item) ?? null);
  }
  const byKey = new Map<string, unknown>();
  for (const item of items) {
    const k = def.itemKey(item);
    if (many) {
      const list = byKey.get(k) as unknown[] | undefined;
      if (list) list.push(def.map(item));
      else byKey.set(k, [def.map(item)]);
    } else if (!byKey.has(k)) {
      byKey.set(k, def.map(item));
    }
  }
  return keys.map((k) => byKey.get(keyId(k)) ?? (many ? [] : null));
}

/** Every key's value when the upstream said the batch has nothing (a 404 on a batch). */
export function emptyValues(def: AnyBatchDef, keys: readonly unknown[]): unknown[] {
  return keys.map(() => (def.cardinality === 'many' ? [] : null));
}
