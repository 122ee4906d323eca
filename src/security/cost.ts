/**
 * The cost limit: a list-size-aware price of an operation, computed from its arguments as execution
 * coerces them, refused over `GRAPHQL_MAX_COST` before any resolver runs.
 */
import {
  getArgumentValues,
  getNamedType,
  getNullableType,
  getVariableValues,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLError,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { SecurityConfig } from './config.js';

/** Arguments that bound the size of a list (on the list field, or on the connection field above it). */
const SIZE_ARGS = new Set(['first', 'last', 'limit', 'size']);

/**
 * The request's variables as execution will see them: coerced by their definitions, defaults applied
 * (`$n: Int = 100` with `n` omitted is 100). Variables that do not coerce are left as sent: execution
 * refuses them before any resolver runs, so their cost never matters.
 */
export function coercedVariables(schema: GraphQLSchema, operation: OperationDefinitionNode, variables: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  const defs = operation.variableDefinitions ?? [];
  if (defs.length === 0) return variables;
  const coerced = getVariableValues(schema, defs, variables as Record<string, unknown>, { maxErrors: 1 });
  return coerced.coerced ?? variables;
}

/** The operation a request runs: the named one, or the only one. */
export function operationOf(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | undefined {
  for (const d of document.definitions) {
    if (d.kind === Kind.OPERATION_DEFINITION && (!operationName || d.name?.value === operationName)) return d;
  }
  return undefined;
}

/** The variables a field's size argument reads (for the memo key). */
function sizeVariables(node: FieldNode, read: Set<string> | undefined): void {
  if (!read) return;
  for (const a of node.arguments ?? []) if (SIZE_ARGS.has(a.name.value) && a.value.kind === Kind.VARIABLE) read.add(a.value.name.value);
}

/**
 * The size a field's arguments give its list, from their coerced values: a literal, a variable (its
 * default applied) or, when the argument is omitted, the argument's schema default
 * (`products(first: Int! = 20)` asked without `first` is 20 items).
 */
function sizeOf(def: GraphQLField<unknown, unknown>, node: FieldNode, variables: Readonly<Record<string, unknown>>): number | undefined {
  if (!def.args.some((a) => SIZE_ARGS.has(a.name))) return undefined;
  let args: Record<string, unknown>;
  try {
    args = getArgumentValues(def, node, variables as Record<string, unknown>);
  } catch {
    return undefined; // invalid arguments: execution refuses them
  }
  let size: number | undefined;
  for (const a of def.args) {
    const v = args[a.name];
    if (SIZE_ARGS.has(a.name) && typeof v === 'number' && Number.isFinite(v)) size = v;
  }
  return size;
}

/**
 * The cost of an operation: every field costs 1, multiplied by the sizes of the lists it is inside.
 * A list's size is its `first`/`last`/`limit`/`size` argument, or that of the connection field just
 * above it (`products(first: 20) { nodes { ... } }`), else `defaultListSize`. Arguments count as
 * execution coerces them: variable defaults and argument defaults applied. `__typename` and
 * introspection fields are free (introspection has its own switch).
 *
 * @example
 * operationCost(schema, parse('{ category(slug: "x") { products(first: 20) { nodes { id } } } }'), null, {}, 10) // 1 + 1 + 20 + 20
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Readonly<Record<string, unknown>>,
  defaultListSize: number,
  /** Collects the names of the variables the cost depends on. */
  read?: Set<string>,
): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const operation = operationOf(document, operationName);
  if (!operation) return 0;
  const root = operation.operation === 'query' ? schema.getQueryType() : operation.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
  if (!root) return 0;
  const values = coercedVariables(schema, operation, variables);

  const walk = (set: SelectionSetNode, parent: GraphQLNamedType, multiplier: number, inherited: number | undefined, depth: number): number => {
    if (depth > 64) return Infinity; // fragments that nest beyond reason: priced out
    let cost = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.INLINE_FRAGMENT) {
        const t = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : parent;
        if (t) cost += walk(sel.selectionSet, t, multiplier, inherited, depth + 1);
        continue;
      }
      if (sel.kind === Kind.FRAGMENT_SPREAD) {
        const f = fragments.get(sel.name.value);
        const t = f && schema.getType(f.typeCondition.name.value);
        if (f && t) cost += walk(f.selectionSet, t, multiplier, inherited, depth + 1);
        continue;
      }
      const name = sel.name.value;
      // Introspection is not priced: it is governed by its own switch (off in production).
      if (name.startsWith('__')) continue;
      let def: GraphQLField<unknown, unknown> | undefined;
      if (isObjectType(parent) || isInterfaceType(parent)) def = parent.getFields()[name];
      if (!def) continue; // validation reports unknown fields
      sizeVariables(sel, read);
      const size = sizeOf(def, sel, values);
      const list = isListType(getNullableType(def.type));
      const items = list ? Math.max(0, size ?? inherited ?? defaultListSize) : 1;
      cost += multiplier * items;
      if (sel.selectionSet) cost += walk(sel.selectionSet, getNamedType(def.type), multiplier * items, list ? undefined : size, depth + 1);
    }
    return cost;
  };
  return walk(operation.selectionSet, root, 1, undefined, 0);
}

/** Costs kept per operation of a document: one per combination of the size variables' values. */
const MAX_COSTS_PER_OPERATION = 64;

export type CostLimit = (
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Readonly<Record<string, unknown>> | null | undefined,
) => GraphQLError | undefined;

/**
 * The cost limit: the refusal of an operation over it (with the request's variables), or undefined.
 * A document's cost depends only on the values of the variables its size arguments read, so it is
 * computed once per operation and combination of those values (a CategoryPage with `first: 20`), not
 * walked on every request. One limiter serves one schema.
 */
export function costLimit(config: Pick<SecurityConfig, 'maxCost' | 'defaultListSize'>): CostLimit {
  /** Per document and operation: the variables its cost reads, and the costs seen by their values. */
  const memo = new WeakMap<DocumentNode, Map<string, { vars: readonly string[]; readonly costs: Map<string, number> }>>();
  return (schema, document, operationName, variables) => {
    const vars = variables ?? {};
    let byOperation = memo.get(document);
    if (!byOperation) memo.set(document, (byOperation = new Map()));
    let entry = byOperation.get(operationName ?? '');
    // The first walk also finds which variables the cost depends on.
    const read = entry ? undefined : new Set<string>();
    // Keyed by the values execution will use (a variable's default when it is omitted).
    const operation = entry && entry.vars.length > 0 ? operationOf(document, operationName) : undefined;
    const key = entry ? valueKey(entry.vars, operation ? coercedVariables(schema, operation, vars) : vars) : undefined;
    let cost = key === undefined ? undefined : entry!.costs.get(key);
    if (cost === undefined) {
      cost = operationCost(schema, document, operationName, vars, config.defaultListSize, read);
      if (!entry) {
        byOperation.set(operationName ?? '', (entry = { vars: [...read!], costs: new Map() }));
        const op = entry.vars.length > 0 ? operationOf(document, operationName) : undefined;
        if (entry.costs.size < MAX_COSTS_PER_OPERATION) entry.costs.set(valueKey(entry.vars, op ? coercedVariables(schema, op, vars) : vars), cost);
      } else if (entry.costs.size < MAX_COSTS_PER_OPERATION) entry.costs.set(key!, cost);
    }
    return cost <= config.maxCost ? undefined : costError(cost, config.maxCost);
  };
}

/**
 * The values of the size variables a cost depends on: a finite number, absent (the argument's default
 * applies), or anything else (no size: the default list size).
 */
function valueKey(vars: readonly string[], variables: Readonly<Record<string, unknown>>): string {
  return vars.map((v) => (typeof variables[v] === 'number' && Number.isFinite(variables[v]) ? String(variables[v]) : variables[v] === undefined ? 'u' : '-')).join(',');
}

function costError(cost: number, maxCost: number): GraphQLError {
  return createGraphQLError(`Operation cost ${Number.isFinite(cost) ? cost : 'unbounded'} exceeds the limit of ${maxCost}.`, {
    extensions: { code: 'COST_LIMIT_EXCEEDED', cost: Number.isFinite(cost) ? cost : null, limit: maxCost, http: { status: 400 } },
  });
}

/** The cost limit, applied before execution with the request's variables. */
export function useCostLimit(limit: CostLimit): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refused = limit(args.schema, args.document, args.operationName, args.variableValues as Record<string, unknown> | undefined);
      if (refused) setResultAndStopExecution({ errors: [refused] });
    },
  };
}
