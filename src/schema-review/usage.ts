/**
 * A schema change against recorded field usage: which recorded coordinates a change touches, and
 * whether clients read them over the period (`used`, with who, how much and when last) or not.
 */
import { getNamedType, isEnumType, isInterfaceType, isObjectType, isUnionType, type GraphQLSchema } from 'graphql';
import { summariseUsage, type CoordinateUsage } from '../usage/summary.js';
import type { UsageExport } from '../usage/types.js';

export interface ChangeUsage extends CoordinateUsage {
  readonly status: 'used' | 'unused';
  /** The period looked at, in days before the usage's end. */
  readonly days: number;
}

/**
 * Which recorded coordinates a change to `coordinate` reaches, in the base schema:
 * - an argument: callers passing it (a required argument added: every caller of the field);
 * - an enum value: literals of it, and every output field returning the enum (it may be answered);
 * - a union member (`Union.Member`): selections on the member type;
 * - a type: anything of it; a required input field added: every writer of the input type;
 * - a field, input field: itself.
 */
export function touches(base: GraphQLSchema, coordinate: string, changeType: string): (c: string) => boolean {
  const arg = /^(\w+\.\w+)\((\w+):\)$/.exec(coordinate);
  if (arg) return changeType === 'REQUIRED_ARG_ADDED' ? (c) => c === arg[1] : (c) => c === coordinate;
  const [typeName, member] = coordinate.split('.') as [string, string | undefined];
  const prefix = (t: string) => (c: string) => c === t || c.startsWith(`${t}.`);
  if (member === undefined) return prefix(typeName);
  const type = base.getType(typeName);
  if (type && isUnionType(type)) return prefix(member);
  if (changeType === 'REQUIRED_INPUT_FIELD_ADDED') return prefix(typeName);
  if (type && isEnumType(type)) {
    const readers = new Set<string>([coordinate]);
    for (const t of Object.values(base.getTypeMap())) {
      if (t.name.startsWith('__') || !(isObjectType(t) || isInterfaceType(t))) continue;
      for (const f of Object.values(t.getFields())) if (getNamedType(f.type).name === typeName) readers.add(`${t.name}.${f.name}`);
    }
    return (c) => readers.has(c);
  }
  return (c) => c === coordinate;
}

/** The usage of a change over the last `days` days of the export. */
export function changeUsage(usage: UsageExport, base: GraphQLSchema, coordinate: string, changeType: string, days: number): ChangeUsage {
  const u = summariseUsage(usage, touches(base, coordinate, changeType), days);
  return { status: u.requests > 0 ? 'used' : 'unused', days, ...u };
}

/** A usage cell for a report: `used: web 3, mobile 2 (ProductPage 3…), last seen …` or `unused over 30 days`. */
export function usageText(u: ChangeUsage): string {
  if (u.status === 'unused') return `unused over ${u.days} days`;
  const list = (xs: readonly { name: string; requests: number }[]) => xs.map((x) => `${x.name} ${x.requests}`).join(', ');
  return `**used**: ${u.requests} requests by ${list(u.clients)} (operations ${list(u.operations)}), last seen ${u.lastSeen}`;
}
