/** inventory: stock by SKU, batched (at most 100 SKUs per call); a lookup sent as POST, declared retry-safe. */
import { Type, type Static } from '@sinclair/typebox';
import { batchEndpoint, defineUpstream } from '../src/connector/index.js';

const ItemSchema = Type.Object({
  sku: Type.String(),
  onHand: Type.Integer(),
  status: Type.Union([Type.Literal('IN_STOCK'), Type.Literal('LOW_STOCK'), Type.Literal('OUT_OF_STOCK')]),
});

/** @mapper Availability (the parent of `Availability` resolvers: codegen.ts reads this tag) */
export interface InventoryLevel {
  readonly sku: string;
  readonly status: 'IN_STOCK' | 'LOW_STOCK' | 'OUT_OF_STOCK';
  readonly quantity: number;
}

const inventory = defineUpstream({
  name: 'inventory',
  description: 'Stock levels by SKU.',
  baseUrlEnv: 'UPSTREAM_INVENTORY_URL',
  auth: { scheme: 'apiKey', header: 'X-Api-Key', key: { env: 'INVENTORY_API_KEY', sandboxDefault: 'sandbox-inventory-key' } },
  // Inventory is the slow, spiky one: hedge reads that take longer than its recent p95.
  policy: { timeoutMs: 800, hedge: { percentile: 0.95, minDelayMs: 10, maxDelayMs: 200 }, onError: 'stale' },
  endpoints: {
    stockBySku: batchEndpoint({
      method: 'POST',
      // A read that happens to be a POST: safe to send again.
      retrySafe: true,
      maxBatchSize: 100,
      request: (skus: readonly string[]) => ({ path: '/stock/lookup', body: { skus } }),
      response: Type.Object({ items: Type.Array(ItemSchema) }),
      items: (body) => body.items,
      itemKey: (i: Static<typeof ItemSchema>) => i.sku,
      map: (i): InventoryLevel => ({ sku: i.sku, status: i.status, quantity: i.onHand }),
      cardinality: 'one',
      // Stock moves: short freshness, and a stale count only while refreshing or when inventory fails.
      cache: { ttlMs: 5_000, scope: 'public', staleWhileRevalidateMs: 5_000, staleIfErrorMs: 60_000 },
    }),
  },
});
export default inventory;

declare module './index.js' {
  interface Upstreams {
    inventory: typeof inventory;
  }
}
