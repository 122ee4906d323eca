/**
 * Reading a usage export: validation of its shape, and the usage of a set of coordinates over the
 * last N days of the export (requests, clients, operations, last seen). Used by `schema:check --usage`.
 */
import { USAGE_FORMAT, type UsageExport } from './types.js';

/** Who used something, how much, and when last, over a period. */
export interface CoordinateUsage {
  /** Requests that read it. */
  readonly requests: number;
  /** Clients by requests, most first. */
  readonly clients: readonly { readonly name: string; readonly requests: number }[];
  /** Operations by requests, most first. */
  readonly operations: readonly { readonly name: string; readonly requests: number }[];
  /** ISO time of the last request, or null when unused. */
  readonly lastSeen: string | null;
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The export, validated; throws a message naming what is wrong. */
export function parseUsageExport(value: unknown): UsageExport {
  if (!isRecord(value) || value.format !== USAGE_FORMAT || value.version !== 1) {
    throw new TypeError(`not a field usage export (expected "format": "${USAGE_FORMAT}", "version": 1, got ${JSON.stringify(isRecord(value) ? { format: value.format, version: value.version } : value)?.slice(0, 120)})`);
  }
  const { operations, counts, from, to } = value;
  if (!isRecord(operations) || !Array.isArray(counts) || typeof from !== 'number' || typeof to !== 'number') {
    throw new TypeError('a field usage export needs "operations" (object), "counts" (array), "from" and "to" (ms)');
  }
  for (const [id, op] of Object.entries(operations)) {
    if (!isRecord(op) || typeof op.operation !== 'string' || !Array.isArray(op.coordinates)) throw new TypeError(`operation ${JSON.stringify(id)} needs "operation" and "coordinates"`);
  }
  for (const c of counts) {
    if (!isRecord(c) || typeof c.window !== 'number' || typeof c.client !== 'string' || typeof c.id !== 'string' || typeof c.count !== 'number' || typeof c.lastSeen !== 'number') {
      throw new TypeError(`a count needs window, client, id, count and lastSeen, got ${JSON.stringify(c).slice(0, 200)}`);
    }
  }
  return value as unknown as UsageExport;
}

/**
 * The usage of the operations that read any coordinate `matches` accepts, over the `days` days
 * before the export's end.
 *
 * @example
 * summariseUsage(usage, (c) => c === 'Product.price', 30) // { requests: 12, clients: [{ name: 'web', requests: 12 }], ... }
 */
export function summariseUsage(usage: UsageExport, matches: (coordinate: string) => boolean, days: number): CoordinateUsage {
  const since = usage.to - days * 86_400_000;
  const hit = new Map<string, boolean>();
  const reads = (id: string) => {
    let h = hit.get(id);
    if (h === undefined) hit.set(id, (h = usage.operations[id]?.coordinates.some(matches) ?? false));
    return h;
  };
  const clients = new Map<string, number>();
  const operations = new Map<string, number>();
  let requests = 0;
  let lastSeen = 0;
  for (const c of usage.counts) {
    // A window counts when any of it is inside the period (its last request is the test).
    if (c.lastSeen < since || !reads(c.id)) continue;
    requests += c.count;
    lastSeen = Math.max(lastSeen, c.lastSeen);
    clients.set(c.client, (clients.get(c.client) ?? 0) + c.count);
    const name = usage.operations[c.id]!.operation;
    operations.set(name, (operations.get(name) ?? 0) + c.count);
  }
  const ranked = (m: Map<string, number>) => [...m].map(([name, n]) => ({ name, requests: n })).sort((a, b) => b.requests - a.requests || a.name.localeCompare(b.name));
  return { requests, clients: ranked(clients), operations: ranked(operations), lastSeen: requests ? new Date(lastSeen).toISOString() : null };
}
