/** Response drift helpers: each drift kind changes one field of every record (see sandbox/README.md). */
import type { DriftKind } from './types.js';
import { isObj } from './input.js';

export interface RecordDrift {
  /** rename: [from, to] */
  rename: [string, string];
  /** type: these numeric fields become strings */
  type: string[];
  /** missing: this field is removed */
  missing: string;
  /** extra: this field is added */
  extra: [string, unknown];
}

export function driftRecord(rec: Record<string, unknown>, kind: DriftKind, d: RecordDrift): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    if (kind === 'rename' && k === d.rename[0]) out[d.rename[1]] = v;
    else if (kind === 'type' && d.type.includes(k) && typeof v === 'number') out[k] = String(v);
    else if (kind === 'missing' && k === d.missing) continue;
    else out[k] = v;
  }
  if (kind === 'extra') out[d.extra[0]] = d.extra[1];
  return out;
}

/** Drifts every record of `body[listKey]`. */
export function driftList(listKey: string, d: RecordDrift): (body: unknown, kind: DriftKind) => unknown {
  return (body, kind) => {
    if (!isObj(body) || !Array.isArray(body[listKey])) return body;
    return { ...body, [listKey]: (body[listKey] as unknown[]).map((r) => (isObj(r) ? driftRecord(r, kind, d) : r)) };
  };
}

/** Drifts the body itself. */
export function driftOne(d: RecordDrift): (body: unknown, kind: DriftKind) => unknown {
  return (body, kind) => (isObj(body) ? driftRecord(body, kind, d) : body);
}
