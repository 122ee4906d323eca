/**
 * Nullability and failure review: what an upstream's failure does to an answer. A field whose own
 * resolver loads from an upstream (the perimeter map knows which: it ran the resolvers) fails with
 * that upstream, unless the upstream's `onError` policy gives a fallback value. A nullable field is
 * then null by itself; a non-null one hands its null to its parent, and on up through non-null
 * positions to the nearest nullable one, wiping everything the client asked for below it (with a
 * non-null root field: the whole response).
 *
 * The engine knows no domain: the schema, the field → endpoint map and the upstream definitions are given.
 */
import { getNamedType, isListType, isNonNullType, isObjectType, isInterfaceType, type GraphQLOutputType, type GraphQLSchema } from 'graphql';
import type { OnErrorPolicy, UpstreamDef } from '../connector/index.js';

/** How a failure of one endpoint a field loads from resolves. */
export interface FieldSource {
  /** `upstream.endpoint`. */
  readonly endpoint: string;
  readonly upstream: string;
  /** `null` (an error, the field null), `stale` (the last cached value within staleIfErrorMs, else null), `fallback` (a declared value, no error). */
  readonly onError: 'null' | 'stale' | 'fallback';
}

/** What the perimeter map says of a field (a subset of its `PerimeterField`). */
export interface MappedField {
  readonly coordinate: string;
  readonly endpoints: readonly string[];
  readonly via: 'resolver' | 'parent' | 'none';
}

/** What a failure of a field's upstream does to the answer. */
export interface FailureEffect {
  readonly coordinate: string;
  readonly sources: readonly FieldSource[];
  /** `fallback`: every source gives a fallback value; `null-here`: the field alone is null; `propagates`: its null wipes its parent. */
  readonly effect: 'fallback' | 'null-here' | 'propagates';
  /** Whether the null may be avoided by a stale value (every non-fallback source is `stale`). */
  readonly staleFirst: boolean;
  /** Where the null lands, with the path from there down to the field (for `propagates`). */
  readonly wipes: readonly Wipe[];
}

export interface Wipe {
  /** The nullable position that becomes null: `Query.category`, `an item of Product.recommendations`, or `data` (the whole response). */
  readonly nulls: string;
  /** From the wiped object down to the failing field: `Category.products.nodes → Product.promotions`. */
  readonly path: string;
}

/** A non-null field an upstream failure would null, wiping a parent the client asked for. */
export interface NullabilityFinding extends Wipe {
  readonly coordinate: string;
  readonly upstreams: readonly string[];
  readonly advice: string;
}

const kindOf = (p: OnErrorPolicy): FieldSource['onError'] => (p === 'null' || p === 'stale' ? p : 'fallback');

/** The endpoints each field's own resolver loads from, with their on-error policy (from the definitions). */
export function fieldSources(fields: readonly MappedField[], upstreams: readonly UpstreamDef[]): Map<string, FieldSource[]> {
  const policy = new Map<string, OnErrorPolicy>();
  for (const def of upstreams) {
    for (const [name, ep] of Object.entries(def.endpoints)) policy.set(`${def.name}.${name}`, ep.onError ?? def.resolvedPolicy.onError);
  }
  const out = new Map<string, FieldSource[]>();
  for (const f of fields) {
    // A field reached through its parent fails with the parent's field, not on its own.
    if (f.via !== 'resolver' || !f.endpoints.length) continue;
    out.set(
      f.coordinate,
      f.endpoints.map((id) => ({ endpoint: id, upstream: id.slice(0, id.indexOf('.')), onError: kindOf(policy.get(id) ?? 'null') })),
    );
  }
  return out;
}

/** Where a null in an object of `typeName` lands: every chain up through non-null positions. */
function wipesOf(schema: GraphQLSchema, typeName: string, below: string[], seen: Set<string>): Wipe[] {
  const roots = new Set([schema.getQueryType()?.name, schema.getMutationType()?.name, schema.getSubscriptionType()?.name].filter(Boolean));
  if (roots.has(typeName)) return [{ nulls: 'data (the whole response)', path: below.join(' → ') }];
  if (seen.has(typeName)) return [];
  const out: Wipe[] = [];
  for (const t of Object.values(schema.getTypeMap())) {
    if (t.name.startsWith('__') || !(isObjectType(t) || isInterfaceType(t))) continue;
    for (const f of Object.values(t.getFields())) {
      if (getNamedType(f.type).name !== typeName && !implementsType(schema, typeName, getNamedType(f.type).name)) continue;
      const coordinate = `${t.name}.${f.name}`;
      const stop = innermostNullable(f.type, coordinate);
      // A nullable position takes the null: the path is what it held, down to the failing field.
      if (stop) out.push({ nulls: stop, path: below.join(' → ') });
      else out.push(...wipesOf(schema, t.name, splitPath(joinPath(coordinate, below)), new Set([...seen, typeName])));
    }
  }
  return out;
}

/** The nullable position closest to the named type inside a field's type, or undefined when every position is non-null. */
function innermostNullable(type: GraphQLOutputType, coordinate: string): string | undefined {
  // Positions from the outside in: the field itself, then each list's items.
  const positions: { nullable: boolean; label: string }[] = [];
  let t: GraphQLOutputType = type;
  let depth = 0;
  for (;;) {
    const nullable = !isNonNullType(t);
    positions.push({ nullable, label: depth === 0 ? coordinate : `an item of ${coordinate}` });
    const inner: GraphQLOutputType = isNonNullType(t) ? t.ofType : t;
    if (!isListType(inner)) break;
    t = inner.ofType;
    depth++;
  }
  for (let i = positions.length - 1; i >= 0; i--) if (positions[i]!.nullable) return positions[i]!.label;
  return undefined;
}

/** Whether an abstract type (`named`) can hold an object of `typeName`. */
function implementsType(schema: GraphQLSchema, typeName: string, named: string): boolean {
  const abstract = schema.getType(named);
  const concrete = schema.getType(typeName);
  if (!abstract || !concrete || !isObjectType(concrete) || named === typeName) return false;
  if (isInterfaceType(abstract)) return concrete.getInterfaces().some((i) => i.name === named);
  const union = abstract as unknown as { getTypes?: () => readonly { name: string }[] };
  return union.getTypes?.().some((m) => m.name === typeName) ?? false;
}

/**
 * Paths are `Type.field.field → Type.field`: a hop into a field of the same chain extends the dotted
 * part; the failing field stays after the arrow.
 */
function joinPath(coordinate: string, below: string[]): string {
  if (below.length === 1) return `${coordinate} → ${below[0]}`;
  const [head, ...rest] = below;
  const field = head!.slice(head!.indexOf('.') + 1);
  return [`${coordinate}.${field}`, ...rest].join(' → ');
}

function splitPath(path: string): string[] {
  return path.split(' → ');
}

/** What a failure of each upstream-backed field does, for the given fields (default: every one with a source). */
export function failureEffects(schema: GraphQLSchema, sources: ReadonlyMap<string, readonly FieldSource[]>, only?: Iterable<string>): FailureEffect[] {
  const out: FailureEffect[] = [];
  for (const coordinate of only ?? sources.keys()) {
    const list = sources.get(coordinate);
    if (!list) continue;
    const [typeName, fieldName] = coordinate.split('.') as [string, string];
    const type = schema.getType(typeName);
    const field = type && (isObjectType(type) || isInterfaceType(type)) ? type.getFields()[fieldName] : undefined;
    if (!field) continue;
    const failing = list.filter((s) => s.onError !== 'fallback');
    if (!failing.length) {
      out.push({ coordinate, sources: list, effect: 'fallback', staleFirst: false, wipes: [] });
      continue;
    }
    const staleFirst = failing.every((s) => s.onError === 'stale');
    if (!isNonNullType(field.type)) {
      out.push({ coordinate, sources: list, effect: 'null-here', staleFirst, wipes: [] });
      continue;
    }
    const wipes = dedupe(wipesOf(schema, typeName, [coordinate], new Set()));
    out.push({ coordinate, sources: list, effect: 'propagates', staleFirst, wipes });
  }
  return out.sort((a, b) => a.coordinate.localeCompare(b.coordinate));
}

function dedupe(wipes: Wipe[]): Wipe[] {
  const seen = new Set<string>();
  return wipes.filter((w) => {
    const k = `${w.nulls}\n${w.path}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Every non-null field whose upstream failure would null it and wipe a parent, with the path and
 * what to do.
 *
 * @example
 * nullabilityFindings(schema, fieldSources(perimeter.fields, upstreams))
 * // [{ coordinate: 'Product.promotions', upstreams: ['promotions'], nulls: 'Query.category', path: 'Category.products.nodes → Product.promotions', advice: '…' }]
 */
export function nullabilityFindings(schema: GraphQLSchema, sources: ReadonlyMap<string, readonly FieldSource[]>): NullabilityFinding[] {
  const out: NullabilityFinding[] = [];
  for (const e of failureEffects(schema, sources)) {
    if (e.effect !== 'propagates') continue;
    const upstreams = [...new Set(e.sources.filter((s) => s.onError !== 'fallback').map((s) => s.upstream))].sort();
    const advice = `make ${e.coordinate} nullable, or give ${upstreams.join(', ')} an onError fallback`;
    for (const w of e.wipes) out.push({ coordinate: e.coordinate, upstreams, ...w, advice });
  }
  return out;
}

/** One line per finding, for a log or a report. */
export function describeFinding(f: NullabilityFinding): string {
  return `${f.path}: a failure of ${f.upstreams.join(', ')} nulls ${f.coordinate}, which is non-null, so null propagates to ${f.nulls}; ${f.advice}.`;
}
