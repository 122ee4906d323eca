/** @internal Helpers of the perimeter probe: schema walking, operation usage, selections a resolver cannot optimise for. */
import {
  Kind,
  parse,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type ASTNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';

export const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as { then?: unknown } | null)?.then === 'function';

export function hasDirective(node: { directives?: readonly { name: { value: string } }[] } | null | undefined, name: string): boolean {
  return Boolean(node?.directives?.some((d) => d.name.value === name));
}

/** A field no schema can define (names starting with `__` are reserved for introspection). */
export const UNKNOWN_FIELD: FieldNode = { kind: Kind.FIELD, name: { kind: Kind.NAME, value: '__perimeterUnknownField' } };

/** The same node with {@link UNKNOWN_FIELD} added to every selection set in it. */
export function withUnknownField<T extends ASTNode>(node: T): T {
  return visit(node, {
    SelectionSet: { leave: (set: SelectionSetNode): SelectionSetNode => ({ ...set, selections: [...set.selections, UNKNOWN_FIELD] }) },
  }) as T;
}

/**
 * A resolver's `info` whose selections (and fragments) each hold a field no resolver can know: a
 * resolver that optimises for its selection (select pushdown) then takes its general path. Only what
 * the resolver is given changes; execution still follows the real document. Memoised per field group.
 */
export function unfamiliarInfo(info: GraphQLResolveInfo, memo: WeakMap<object, Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>>): GraphQLResolveInfo {
  let changed = memo.get(info.fieldNodes);
  if (!changed) {
    const fragments: Record<string, FragmentDefinitionNode> = {};
    for (const [name, f] of Object.entries(info.fragments)) fragments[name] = withUnknownField(f);
    changed = { fieldNodes: info.fieldNodes.map(withUnknownField), fragments };
    memo.set(info.fieldNodes, changed);
  }
  return { ...info, ...changed };
}

/** Output and input object types of a schema, without introspection types. */
export function userTypes(schema: GraphQLSchema): GraphQLNamedType[] {
  return Object.values(schema.getTypeMap()).filter((t) => !t.name.startsWith('__'));
}

/** Every `Type.field` an operation document selects. */
export function operationUsage(schema: GraphQLSchema, operations: ReadonlyMap<string, string>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const [name, text] of operations) {
    const info = new TypeInfo(schema);
    visit(
      parse(text),
      visitWithTypeInfo(info, {
        Field(node) {
          const parent = info.getParentType();
          if (!parent || node.name.value.startsWith('__')) return;
          const c = `${parent.name}.${node.name.value}`;
          if (!out.has(c)) out.set(c, new Set());
          out.get(c)!.add(name);
        },
      }),
    );
  }
  return out;
}
