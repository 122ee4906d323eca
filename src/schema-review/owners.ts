/**
 * Who owns a schema coordinate: the SDL module that declares it (a type's definition, or the
 * `extend type` that adds a field) and that module's `# owner: <team>` header line.
 */
import { Kind, parse, type DefinitionNode } from 'graphql';

/** `# owner: team` in the comment header of a module (before its first definition). */
export function moduleOwner(sdl: string): string | undefined {
  for (const line of sdl.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    if (!t.startsWith('#')) break;
    const m = /^#\s*owner:\s*(\S.*)$/i.exec(t);
    if (m) return m[1]!.trim();
  }
  return undefined;
}

export interface ModuleOwner {
  /** `schema/pricing.graphql`. */
  readonly module: string;
  /** The team, or undefined when the module names none. */
  readonly owner: string | undefined;
}

const TYPE_KINDS = new Set<string>([Kind.OBJECT_TYPE_DEFINITION, Kind.INTERFACE_TYPE_DEFINITION, Kind.INPUT_OBJECT_TYPE_DEFINITION, Kind.ENUM_TYPE_DEFINITION, Kind.UNION_TYPE_DEFINITION, Kind.SCALAR_TYPE_DEFINITION]);

/**
 * Where each type and member (`Type`, `Type.field`, `Enum.VALUE`, `Input.field`) is declared, over
 * the given modules. A module that does not parse declares nothing (composition reports it).
 *
 * @example
 * declarations([{ name: 'pricing', sdl }]).get('Price.sale') // { module: 'schema/pricing.graphql', owner: 'pricing-team' }
 */
export function declarations(modules: readonly { name: string; sdl: string }[]): Map<string, ModuleOwner> {
  const out = new Map<string, ModuleOwner>();
  for (const m of modules) {
    const at: ModuleOwner = { module: `schema/${m.name}.graphql`, owner: moduleOwner(m.sdl) };
    let defs: readonly DefinitionNode[];
    try {
      defs = parse(m.sdl).definitions;
    } catch {
      continue;
    }
    for (const d of defs) {
      if (!('name' in d) || !d.name) continue;
      const type = d.name.value;
      if (TYPE_KINDS.has(d.kind)) out.set(type, at);
      const members = ('fields' in d ? d.fields : undefined) ?? ('values' in d ? d.values : undefined) ?? [];
      for (const f of members as readonly { name: { value: string } }[]) out.set(`${type}.${f.name.value}`, at);
    }
  }
  return out;
}

/** The module of a coordinate (`Type.field(arg:)` belongs to its field's). */
export function ownerOf(coordinate: string, ...maps: ReadonlyMap<string, ModuleOwner>[]): ModuleOwner | undefined {
  const member = coordinate.replace(/\(.*$/, '');
  // The member where it is (or was) declared first; its type's module only when no map has the member.
  for (const m of maps) {
    const found = m.get(member);
    if (found) return found;
  }
  for (const m of maps) {
    const found = m.get(member.split('.')[0]!);
    if (found) return found;
  }
  return undefined;
}
