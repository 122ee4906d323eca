/**
 * The schema coordinates one operation of a document reads: `Type.field`, `Type.field(arg:)`, the
 * enum values and input fields it writes as literals, and for each variable of an input object or
 * enum type every field or value that type holds (a variable's value is never looked at, so any of
 * them may be sent: counting them all keeps a breaking change to one of them from passing unseen).
 *
 * Computed once per document and operation (the recorder caches the result), never per request.
 */
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  Kind,
  TypeInfo,
  typeFromAST,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';

/** What an operation reads of the schema. */
export interface OperationCoordinates {
  /** The operation's name, or `(anonymous)`. */
  readonly operation: string;
  /** Every coordinate, sorted. */
  readonly coordinates: readonly string[];
  /** Those that are `@deprecated` in the schema, sorted. */
  readonly deprecated: readonly string[];
}

export const ANONYMOUS_OPERATION = '(anonymous)';

/** The operation a request runs: the named one, or the document's only one. */
export function selectOperation(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | undefined {
  let only: OperationDefinitionNode | undefined;
  let count = 0;
  for (const d of document.definitions) {
    if (d.kind !== Kind.OPERATION_DEFINITION) continue;
    count++;
    if (operationName != null ? d.name?.value === operationName : count === 1) only = d;
  }
  return operationName == null && count > 1 ? undefined : only;
}

/**
 * The coordinates an operation reads, or undefined when the document has no such operation.
 *
 * @example
 * operationCoordinates(schema, parse('query P { product(id: 1) { price { sale { amount } } } }'), null)
 * // { operation: 'P', coordinates: ['Money.amount', 'Price.sale', 'Product.price', 'Query.product', 'Query.product(id:)'], deprecated: [] }
 */
export function operationCoordinates(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined): OperationCoordinates | undefined {
  const op = selectOperation(document, operationName);
  if (!op) return undefined;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);

  const used = new Set<string>();
  const deprecated = new Set<string>();
  const add = (coordinate: string, deprecationReason: string | null | undefined) => {
    used.add(coordinate);
    if (deprecationReason != null) deprecated.add(coordinate);
  };
  /** Every field (recursively) or value of a variable's type. */
  const addInputType = (type: GraphQLNamedType, seen: Set<string>) => {
    if (seen.has(type.name)) return;
    seen.add(type.name);
    if (isEnumType(type)) for (const v of type.getValues()) add(`${type.name}.${v.name}`, v.deprecationReason);
    if (isInputObjectType(type)) {
      for (const f of Object.values(type.getFields())) {
        add(`${type.name}.${f.name}`, f.deprecationReason);
        addInputType(getNamedType(f.type), seen);
      }
    }
  };

  const seenInputs = new Set<string>();
  const visited = new Set<string>();
  const pending: (OperationDefinitionNode | FragmentDefinitionNode)[] = [op];
  while (pending.length) {
    const node = pending.pop()!;
    const info = new TypeInfo(schema);
    visit(
      node,
      visitWithTypeInfo(info, {
        VariableDefinition(v) {
          const type = typeFromAST(schema, v.type as never) as GraphQLInputType | undefined;
          if (type) addInputType(getNamedType(type), seenInputs);
        },
        Field(f) {
          const parent = info.getParentType();
          const def = info.getFieldDef();
          if (!parent || !def || f.name.value.startsWith('__')) return;
          add(`${parent.name}.${def.name}`, def.deprecationReason);
        },
        Argument(a) {
          const parent = info.getParentType();
          const def = info.getFieldDef();
          const arg = info.getArgument();
          // Directive arguments (@include(if:)) have no field of their own here.
          if (!parent || !def || !arg || info.getDirective()) return;
          add(`${parent.name}.${def.name}(${a.name.value}:)`, arg.deprecationReason);
        },
        ObjectField(o) {
          const parent = info.getParentInputType();
          const named = parent ? getNamedType(parent) : undefined;
          if (!named || !isInputObjectType(named)) return;
          const field = named.getFields()[o.name.value];
          if (field) add(`${named.name}.${field.name}`, field.deprecationReason);
        },
        EnumValue(e) {
          const type = info.getInputType();
          const named = type ? getNamedType(type) : undefined;
          if (!named || !isEnumType(named)) return;
          const value = named.getValue(e.value);
          if (value) add(`${named.name}.${value.name}`, value.deprecationReason);
        },
        FragmentSpread(s) {
          const name = s.name.value;
          const f = fragments.get(name);
          if (f && !visited.has(name)) {
            visited.add(name);
            pending.push(f);
          }
        },
      }),
    );
  }
  return { operation: op.name?.value ?? ANONYMOUS_OPERATION, coordinates: [...used].sort(), deprecated: [...deprecated].sort() };
}
