/**
 * The schema diff of the review: changes graphql-js reports and those it does not (additions,
 * descriptions, deprecations, applied directives, fields becoming non-null), the coordinates client
 * operations use, descriptions missing, deprecated coordinates.
 */
import {
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isSpecifiedScalarType,
  parse,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';

/** Every `Type.field` and `Type.field(arg:)` each operation document uses, in a schema. */
export function operationUsage(schema: GraphQLSchema, operations: Map<string, string>): Map<string, Set<string>> {
  const usedBy = new Map<string, Set<string>>();
  const add = (coord: string, op: string) => {
    let s = usedBy.get(coord);
    if (!s) usedBy.set(coord, (s = new Set()));
    s.add(op);
  };
  for (const [name, text] of operations) {
    let doc;
    try {
      doc = parse(text);
    } catch {
      continue;
    }
    const info = new TypeInfo(schema);
    visit(
      doc,
      visitWithTypeInfo(info, {
        Field(node) {
          const parent = info.getParentType();
          if (!parent) return;
          add(parent.name, name);
          add(`${parent.name}.${node.name.value}`, name);
        },
        Argument(node) {
          const parent = info.getParentType();
          const field = info.getFieldDef();
          if (parent && field) add(`${parent.name}.${field.name}(${node.name.value}:)`, name);
        },
        NamedType(node) {
          add(node.name.value, name);
        },
      }),
    );
  }
  return usedBy;
}

/** The coordinate a graphql-js change description is about. */
export function coordinateOf(description: string): string {
  let m = /^(\w+) was removed from (?:enum|union) type (\w+)/.exec(description);
  if (m) return `${m[2]}.${m[1]}`;
  m = /^A required (?:arg|field) (\w+) on (?:input type )?([\w.]+) was added/.exec(description);
  if (m) return m[2]!.includes('.') ? `${m[2]}(${m[1]}:)` : `${m[2]}.${m[1]}`;
  m = /^([\w]+\.\w+) arg (\w+)/.exec(description);
  if (m) return `${m[1]}(${m[2]}:)`;
  m = /^(\w+(?:\.\w+)?)/.exec(description);
  return m ? m[1]! : description;
}

const userTypes = (schema: GraphQLSchema): GraphQLNamedType[] =>
  Object.values(schema.getTypeMap()).filter((t) => !t.name.startsWith('__') && !isSpecifiedScalarType(t));

type Extra = { level: 'dangerous' | 'safe'; type: string; coordinate: string; description: string };

/** Directive names applied to a type or field (its definition and its extensions). */
function appliedDirectives(node: { astNode?: unknown; extensionASTNodes?: readonly unknown[] }): string[] {
  const nodes = [node.astNode, ...(node.extensionASTNodes ?? [])] as ({ directives?: readonly { name: { value: string } }[] } | null | undefined)[];
  return [...new Set(nodes.flatMap((n) => n?.directives?.map((d) => d.name.value) ?? []))].filter((d) => d !== 'deprecated').sort();
}

/**
 * Changes graphql-js does not report: added types, output fields and directives, new descriptions and
 * deprecations (safe), and directives applied to or removed from a type or field (dangerous: e.g. a
 * field that becomes `@pii` is refused to clients without the permission).
 */
export function extraChanges(base: GraphQLSchema, next: GraphQLSchema): Extra[] {
  const out: Extra[] = [];
  const directiveDiff = (coordinate: string, before: string[], after: string[]) => {
    for (const d of after) if (!before.includes(d)) out.push({ level: 'dangerous', type: 'DIRECTIVE_APPLIED', coordinate, description: `${coordinate} is now @${d}.` });
    for (const d of before) if (!after.includes(d)) out.push({ level: 'dangerous', type: 'DIRECTIVE_UNAPPLIED', coordinate, description: `${coordinate} is no longer @${d}.` });
  };
  for (const d of next.getDirectives()) {
    if (!base.getDirective(d.name)) out.push({ level: 'safe', type: 'DIRECTIVE_ADDED', coordinate: `@${d.name}`, description: `Directive @${d.name} was added.` });
  }
  for (const t of userTypes(next)) {
    const old = base.getType(t.name);
    if (old) directiveDiff(t.name, appliedDirectives(old), appliedDirectives(t));
    if (old && (isObjectType(t) || isInterfaceType(t)) && (isObjectType(old) || isInterfaceType(old))) {
      const oldFields = old.getFields();
      for (const f of Object.values(t.getFields())) {
        const of = oldFields[f.name];
        if (of) directiveDiff(`${t.name}.${f.name}`, appliedDirectives(of), appliedDirectives(f));
      }
    }
  }
  return [...out, ...safeChanges(base, next).map((c) => ({ level: 'safe' as const, ...c }))];
}

/** Additions graphql-js does not report (they cannot break a client): types, output fields, descriptions. */
function safeChanges(base: GraphQLSchema, next: GraphQLSchema): { type: string; coordinate: string; description: string }[] {
  const out: { type: string; coordinate: string; description: string }[] = [];
  for (const t of userTypes(next)) {
    const old = base.getType(t.name);
    if (!old) {
      out.push({ type: 'TYPE_ADDED', coordinate: t.name, description: `${t.name} was added.` });
      continue;
    }
    if ((old.description ?? '') !== (t.description ?? '')) out.push({ type: 'DESCRIPTION_CHANGED', coordinate: t.name, description: `${t.name} has a new description.` });
    if ((isObjectType(t) || isInterfaceType(t)) && (isObjectType(old) || isInterfaceType(old))) {
      const oldFields = old.getFields();
      for (const f of Object.values(t.getFields())) {
        const of = oldFields[f.name];
        const c = `${t.name}.${f.name}`;
        if (!of) out.push({ type: 'FIELD_ADDED', coordinate: c, description: `${c} was added (${String(f.type)}).` });
        else {
          if ((of.description ?? '') !== (f.description ?? '')) out.push({ type: 'DESCRIPTION_CHANGED', coordinate: c, description: `${c} has a new description.` });
          if (!of.deprecationReason && f.deprecationReason) out.push({ type: 'FIELD_DEPRECATED', coordinate: c, description: `${c} was deprecated: ${f.deprecationReason}` });
          // Safe for clients, so graphql-js is silent; the nullability review is not (an upstream failure now wipes the parent).
          const [was, now] = [String(of.type), String(f.type)];
          if (was !== now && was.replace(/!/g, '') === now.replace(/!/g, '') && now.length > was.length) {
            out.push({ type: 'FIELD_NOW_NON_NULL', coordinate: c, description: `${c} changed type from ${was} to ${now}.` });
          }
        }
      }
    }
  }
  return out;
}

/** Types and fields without a description. */
export function missingDescriptions(schema: GraphQLSchema): string[] {
  const out: string[] = [];
  for (const t of userTypes(schema)) {
    const isRoot = t === schema.getQueryType() || t === schema.getMutationType() || t === schema.getSubscriptionType();
    if (!t.description?.trim() && !isRoot) out.push(t.name);
    if (isObjectType(t) || isInterfaceType(t) || isInputObjectType(t)) {
      for (const f of Object.values(t.getFields())) if (!f.description?.trim()) out.push(`${t.name}.${f.name}`);
    }
    if (isEnumType(t)) for (const v of t.getValues()) if (!v.description?.trim()) out.push(`${t.name}.${v.name}`);
  }
  return out.sort();
}

/** Every `@deprecated` field, argument, enum value and input field of a schema, with its reason. */
export function deprecatedCoordinates(schema: GraphQLSchema): { coordinate: string; reason: string }[] {
  const out: { coordinate: string; reason: string }[] = [];
  for (const t of userTypes(schema)) {
    if (isObjectType(t) || isInterfaceType(t)) {
      for (const f of Object.values(t.getFields())) {
        if (f.deprecationReason != null) out.push({ coordinate: `${t.name}.${f.name}`, reason: f.deprecationReason });
        for (const a of f.args) if (a.deprecationReason != null) out.push({ coordinate: `${t.name}.${f.name}(${a.name}:)`, reason: a.deprecationReason });
      }
    }
    if (isInputObjectType(t)) for (const f of Object.values(t.getFields())) if (f.deprecationReason != null) out.push({ coordinate: `${t.name}.${f.name}`, reason: f.deprecationReason });
    if (isEnumType(t)) for (const v of t.getValues()) if (v.deprecationReason != null) out.push({ coordinate: `${t.name}.${v.name}`, reason: v.deprecationReason });
  }
  return out.sort((a, b) => a.coordinate.localeCompare(b.coordinate));
}
