/**
 * `@requires(fields: "...")`, federation-style: a module that extends a type declares, beside its
 * field, which fields of the parent object its resolver reads (`price: Price @requires(fields: "sku")`).
 * The owner of the type then knows what to fetch for it (select pushdown, `src/projection.ts`)
 * without a central table that every team must edit.
 */
import { GraphQLError, Kind, isObjectType, type GraphQLObjectType, type GraphQLSchema } from 'graphql';

export const REQUIRES_DIRECTIVE = 'requires';

/**
 * The fields of a field set: names separated by spaces or commas ("sku", "id sku"). Nested
 * selections ("a { b }") are not supported: a parent object is fetched whole or by its top fields.
 */
function parseFieldSet(value: string, where: string): string[] {
  if (/[{}()]/.test(value)) throw new GraphQLError(`${where}: @requires(fields: ${JSON.stringify(value)}) may list field names only (no nested selections).`);
  const names = value.split(/[\s,]+/).filter(Boolean);
  if (names.length === 0) throw new GraphQLError(`${where}: @requires(fields: "") names no field.`);
  return names;
}

/** Each field of the type that declares `@requires`, with the fields it requires. */
export function fieldRequirements(type: GraphQLObjectType): Map<string, readonly string[]> {
  const out = new Map<string, readonly string[]>();
  for (const field of Object.values(type.getFields())) {
    const directive = field.astNode?.directives?.find((d) => d.name.value === REQUIRES_DIRECTIVE);
    if (!directive) continue;
    const arg = directive.arguments?.find((a) => a.name.value === 'fields');
    const where = `${type.name}.${field.name}`;
    if (!arg || arg.value.kind !== Kind.STRING) throw new GraphQLError(`${where}: @requires needs fields: "<field names>".`);
    out.set(field.name, parseFieldSet(arg.value.value, where));
  }
  return out;
}

/**
 * Checks every `@requires` of a schema: each names fields that exist on its parent type. Throws a
 * GraphQLError naming the field and the unknown names (start-up fails, not a request).
 */
export function validateRequirements(schema: GraphQLSchema): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    const fields = type.getFields();
    for (const [field, required] of fieldRequirements(type)) {
      const unknown = required.filter((r) => !fields[r]);
      if (unknown.length > 0) throw new GraphQLError(`${type.name}.${field}: @requires names ${unknown.map((u) => `"${u}"`).join(', ')}, which ${type.name} does not have.`);
      if (required.includes(field)) throw new GraphQLError(`${type.name}.${field}: @requires names the field itself.`);
    }
  }
}
