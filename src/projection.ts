/**
 * Select pushdown: the fields an operation selects, translated into the fields an upstream that can
 * project (a `select=` or `fields=` parameter) should send. The engine knows no domain: an upstream
 * definition declares a {@link Projection} (which upstream fields each GraphQL field needs) and a
 * resolver asks {@link projectSelection} for the upstream fields of its selection.
 */
import { Kind, isObjectType, type FieldNode, type FragmentDefinitionNode, type GraphQLResolveInfo, type GraphQLSchema, type SelectionSetNode, type ValueNode } from 'graphql';
import { fieldRequirements } from './requires.js';

/** Which upstream fields each GraphQL field of a type needs. */
export interface Projection {
  /**
   * GraphQL field name → the upstream fields it reads (an empty list for a field that needs none).
   * A selected field that is not listed makes the projection give up (undefined): everything is fetched.
   */
  readonly fields: Readonly<Record<string, readonly string[]>>;
  /** Upstream fields always fetched (the identity, what other resolvers key on). */
  readonly always?: readonly string[];
}

/** What a walk of the selection read: `dynamic` once a @skip/@include depended on a variable. */
interface Walk {
  readonly fragments: Record<string, FragmentDefinitionNode>;
  readonly variables: Record<string, unknown>;
  dynamic: boolean;
}

function skipped(node: { directives?: readonly { name: { value: string }; arguments?: readonly { name: { value: string }; value: ValueNode }[] }[] }, walk: Walk): boolean {
  for (const d of node.directives ?? []) {
    if (d.name.value !== 'skip' && d.name.value !== 'include') continue;
    const arg = d.arguments?.find((a) => a.name.value === 'if');
    if (!arg) continue;
    if (arg.value.kind === Kind.VARIABLE) walk.dynamic = true;
    const v = arg.value.kind === Kind.VARIABLE ? walk.variables[arg.value.name.value] : arg.value.kind === Kind.BOOLEAN ? arg.value.value : undefined;
    if (d.name.value === 'skip' && v === true) return true;
    if (d.name.value === 'include' && v === false) return true;
  }
  return false;
}

/** Field nodes selected directly in these selection sets (fragments and inline fragments flattened). */
function collectFields(sets: readonly SelectionSetNode[], walk: Walk, out: FieldNode[] = [], seen = new Set<string>()): FieldNode[] {
  for (const set of sets) {
    for (const sel of set.selections) {
      if (skipped(sel, walk)) continue;
      if (sel.kind === Kind.FIELD) out.push(sel);
      else if (sel.kind === Kind.INLINE_FRAGMENT) collectFields([sel.selectionSet], walk, out, seen);
      else if (sel.kind === Kind.FRAGMENT_SPREAD && !seen.has(sel.name.value)) {
        seen.add(sel.name.value);
        const f = walk.fragments[sel.name.value];
        if (f) collectFields([f.selectionSet], walk, out, seen);
      }
    }
  }
  return out;
}

/** A projection worked out for a field of a parsed document, kept with the document's nodes. */
interface Memo {
  readonly nodes: readonly FieldNode[];
  readonly projection: Projection;
  readonly path: string;
  readonly result: readonly string[] | undefined;
}

/**
 * Projections by the field's first node. A cached document runs with the same nodes every time, so
 * its projection is worked out once; one that a variable changes (@skip/@include) is worked out
 * again each time.
 */
const memos = new WeakMap<FieldNode, Memo[]>();
const MAX_MEMOS_PER_NODE = 8;

const sameNodes = (a: readonly FieldNode[], b: readonly FieldNode[]): boolean => a.length === b.length && a.every((n, i) => n === b[i]);

/**
 * The upstream fields the current field's selection needs, below `path` (e.g. `['nodes']` from a
 * connection field), sorted and without duplicates; or undefined when some selected field has no
 * mapping (then the caller fetches everything). `__typename` needs nothing. The list is shared
 * (frozen): the same document gets the same list.
 *
 * @example
 * // products(first: 20) { nodes { id title price { ... } } } with fields {id: ['id'], title: ['title'], price: ['sku']}
 * projectSelection(info, ['nodes'], projection) // ['id', 'sku', 'title']
 */
export function projectSelection(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments' | 'variableValues'>, path: readonly string[], projection: Projection): readonly string[] | undefined {
  const first = info.fieldNodes[0];
  const key = path.join('.');
  const kept = first && memos.get(first);
  if (kept) for (const m of kept) if (m.projection === projection && m.path === key && sameNodes(m.nodes, info.fieldNodes)) return m.result;
  const walk: Walk = { fragments: info.fragments, variables: info.variableValues, dynamic: false };
  const result = project(info.fieldNodes, path, projection, walk);
  if (first && !walk.dynamic) {
    const list = kept || [];
    if (!kept) memos.set(first, list);
    if (list.length < MAX_MEMOS_PER_NODE) list.push({ nodes: [...info.fieldNodes], projection, path: key, result });
  }
  return result;
}

function project(fieldNodes: readonly FieldNode[], path: readonly string[], projection: Projection, walk: Walk): readonly string[] | undefined {
  let sets: SelectionSetNode[] = fieldNodes.flatMap((n) => (n.selectionSet ? [n.selectionSet] : []));
  for (const step of path) {
    sets = collectFields(sets, walk)
      .filter((f) => f.name.value === step && f.selectionSet)
      .map((f) => f.selectionSet!);
  }
  const wanted = new Set<string>(projection.always ?? []);
  for (const f of collectFields(sets, walk)) {
    const name = f.name.value;
    if (name === '__typename') continue;
    const needs = projection.fields[name];
    if (!needs) return undefined;
    for (const n of needs) wanted.add(n);
  }
  return Object.freeze([...wanted].sort());
}

/** Projections derived per schema, per owner projection and type (see {@link withRequirements}). */
const derived = new WeakMap<GraphQLSchema, Map<Projection, Map<string, Projection>>>();

/**
 * The projection of a type whose owner maps only its own fields, completed from the composed schema:
 * a field another module adds with `@requires(fields: "sku")` needs what the owner's `sku` needs.
 * A field with no declaration stays unmapped, so selecting it fetches the whole object. Worked out
 * once per schema (the same object every time, so {@link projectSelection}'s memo holds).
 *
 * @example
 * // schema/pricing.graphql: extend type Product { price: Price @requires(fields: "sku") }
 * withRequirements(info.schema, 'Product', { always: ['id'], fields: { id: ['id'], sku: ['sku'] } })
 * // → { always: ['id'], fields: { id: ['id'], sku: ['sku'], price: ['sku'] } }
 */
export function withRequirements(schema: GraphQLSchema, typeName: string, own: Projection): Projection {
  let byOwn = derived.get(schema);
  if (!byOwn) derived.set(schema, (byOwn = new Map()));
  let byType = byOwn.get(own);
  if (!byType) byOwn.set(own, (byType = new Map()));
  const kept = byType.get(typeName);
  if (kept) return kept;
  const type = schema.getType(typeName);
  const fields: Record<string, readonly string[]> = { ...own.fields };
  if (isObjectType(type)) {
    for (const [field, required] of fieldRequirements(type)) {
      if (fields[field]) continue; // the owner's own mapping wins
      const needs = required.map((r) => own.fields[r]);
      // A requirement the owner cannot project (not in its mapping): this field needs the whole object.
      if (needs.every((n): n is readonly string[] => n !== undefined)) fields[field] = [...new Set(needs.flat())].sort();
    }
  }
  const projection: Projection = Object.freeze({ ...(own.always ? { always: own.always } : {}), fields: Object.freeze(fields) });
  byType.set(typeName, projection);
  return projection;
}
