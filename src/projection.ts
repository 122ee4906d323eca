/**
 * Select pushdown: the fields an operation selects, translated into the fields an upstream that can
 * project (a `select=` or `fields=` parameter) should send. The engine knows no domain: an upstream
 * definition declares a {@link Projection} (which upstream fields each GraphQL field needs) and a
 * resolver asks {@link projectSelection} for the upstream fields of its selection.
 */
import { Kind, type FieldNode, type FragmentDefinitionNode, type GraphQLResolveInfo, type SelectionSetNode, type ValueNode } from 'graphql';

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

function skipped(node: { directives?: readonly { name: { value: string }; arguments?: readonly { name: { value: string }; value: ValueNode }[] }[] }, variables: Record<string, unknown>): boolean {
  for (const d of node.directives ?? []) {
    if (d.name.value !== 'skip' && d.name.value !== 'include') continue;
    const arg = d.arguments?.find((a) => a.name.value === 'if');
    if (!arg) continue;
    const v = arg.value.kind === Kind.VARIABLE ? variables[arg.value.name.value] : arg.value.kind === Kind.BOOLEAN ? arg.value.value : undefined;
    if (d.name.value === 'skip' && v === true) return true;
    if (d.name.value === 'include' && v === false) return true;
  }
  return false;
}

/** Field nodes selected directly in these selection sets (fragments and inline fragments flattened). */
function collectFields(sets: readonly SelectionSetNode[], fragments: Record<string, FragmentDefinitionNode>, variables: Record<string, unknown>, out: FieldNode[] = [], seen = new Set<string>()): FieldNode[] {
  for (const set of sets) {
    for (const sel of set.selections) {
      if (skipped(sel, variables)) continue;
      if (sel.kind === Kind.FIELD) out.push(sel);
      else if (sel.kind === Kind.INLINE_FRAGMENT) collectFields([sel.selectionSet], fragments, variables, out, seen);
      else if (sel.kind === Kind.FRAGMENT_SPREAD && !seen.has(sel.name.value)) {
        seen.add(sel.name.value);
        const f = fragments[sel.name.value];
        if (f) collectFields([f.selectionSet], fragments, variables, out, seen);
      }
    }
  }
  return out;
}

/**
 * The upstream fields the current field's selection needs, below `path` (e.g. `['nodes']` from a
 * connection field), sorted and without duplicates; or undefined when some selected field has no
 * mapping (then the caller fetches everything). `__typename` needs nothing.
 *
 * @example
 * // products(first: 20) { nodes { id title price { ... } } } with fields {id: ['id'], title: ['title'], price: ['sku']}
 * projectSelection(info, ['nodes'], projection) // ['id', 'sku', 'title']
 */
export function projectSelection(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments' | 'variableValues'>, path: readonly string[], projection: Projection): string[] | undefined {
  let sets: SelectionSetNode[] = info.fieldNodes.flatMap((n) => (n.selectionSet ? [n.selectionSet] : []));
  for (const step of path) {
    sets = collectFields(sets, info.fragments, info.variableValues)
      .filter((f) => f.name.value === step && f.selectionSet)
      .map((f) => f.selectionSet!);
  }
  const wanted = new Set<string>(projection.always ?? []);
  for (const f of collectFields(sets, info.fragments, info.variableValues)) {
    const name = f.name.value;
    if (name === '__typename') continue;
    const needs = projection.fields[name];
    if (!needs) return undefined;
    for (const n of needs) wanted.add(n);
  }
  return [...wanted].sort();
}
