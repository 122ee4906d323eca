/**
 * Bounds on the strings a client passes in: every `ID` and every `String` (or custom scalar) an
 * operation's arguments carry, written in the document or sent as variables (inside input objects and
 * lists too), is checked before execution, so an oversized value never reaches a resolver or an
 * upstream (a 900 KB id used to reach the catalog, which answered 431). Over the bound the request is
 * refused with `BAD_USER_INPUT` naming the argument or variable.
 *
 * Hand-written: graphql-armor bounds tokens, depth and aliases, not the length of values.
 */
import {
  getNamedType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  TypeInfo,
  typeFromAST,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLError,
  type GraphQLInputType,
  type GraphQLSchema,
} from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { SecurityConfig } from './config.js';
import { operationOf } from './cost.js';

export type InputLimits = Pick<SecurityConfig, 'maxIdLength' | 'maxStringLength'>;

export type InputLimit = (
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Readonly<Record<string, unknown>> | null | undefined,
) => GraphQLError | undefined;

/** Deepest nesting of lists and input objects walked in a variable (deeper values are refused). */
const MAX_DEPTH = 32;

function tooLong(what: string, type: string, max: number, length: number): GraphQLError {
  return createGraphQLError(`${what} is longer than the ${max} characters a${type === 'ID' ? 'n' : ''} ${type} may have (got ${length}).`, {
    extensions: { code: 'BAD_USER_INPUT', maxLength: max, http: { status: 400 } },
  });
}

/** The bound of a leaf type: `ID` has its own, every other scalar (String, custom ones) the string bound; enums none. */
function boundOf(typeName: string, scalar: boolean, limits: InputLimits): number | undefined {
  if (!scalar) return undefined;
  return typeName === 'ID' ? limits.maxIdLength : limits.maxStringLength;
}

/** The first string literal of the document over its bound (arguments, input objects and lists alike). */
function literalRefusal(schema: GraphQLSchema, document: DocumentNode, limits: InputLimits): GraphQLError | undefined {
  const info = new TypeInfo(schema);
  let refused: GraphQLError | undefined;
  visit(
    document,
    visitWithTypeInfo(info, {
      StringValue(node) {
        if (refused) return;
        const type = getNamedType(info.getInputType());
        // A literal of an unknown place (validation reports it) is held to the string bound.
        const max = type ? boundOf(type.name, isScalarType(type), limits) : limits.maxStringLength;
        if (max !== undefined && node.value.length > max) {
          const arg = info.getArgument()?.name;
          refused = tooLong(arg ? `Argument "${arg}"` : 'A string in the document', type?.name ?? 'String', max, node.value.length);
        }
      },
    }),
  );
  return refused;
}

/** The first string of a variable's value over its bound, walking its declared type. */
function variableRefusal(name: string, type: GraphQLInputType, value: unknown, limits: InputLimits, at: string, depth: number): GraphQLError | undefined {
  if (value === null || value === undefined) return undefined;
  if (depth > MAX_DEPTH) return createGraphQLError(`Variable "$${name}" nests deeper than ${MAX_DEPTH} levels.`, { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });
  const t = isNonNullType(type) ? type.ofType : type;
  if (isListType(t)) {
    const items = Array.isArray(value) ? value : [value];
    for (let i = 0; i < items.length; i++) {
      const r = variableRefusal(name, t.ofType, items[i], limits, `${at}[${i}]`, depth + 1);
      if (r) return r;
    }
    return undefined;
  }
  if (isInputObjectType(t)) {
    if (typeof value !== 'object' || Array.isArray(value)) return undefined; // coercion refuses it
    const fields = t.getFields();
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const f = fields[k];
      if (!f) continue; // coercion refuses unknown fields
      const r = variableRefusal(name, f.type, v, limits, `${at}.${k}`, depth + 1);
      if (r) return r;
    }
    return undefined;
  }
  const max = boundOf(t.name, isScalarType(t), limits);
  if (max !== undefined && typeof value === 'string' && value.length > max) return tooLong(`Variable "$${name}${at}"`, t.name, max, value.length);
  return undefined;
}

/**
 * The input limit: the refusal of a request carrying a string over its bound, or undefined. The
 * document's literals are checked once per document; variables on every request.
 *
 * @example
 * const limit = inputLimit({ maxIdLength: 128, maxStringLength: 1024 });
 * limit(schema, parse('{ product(id: "…900 KB…") { id } }'), null, {}); // BAD_USER_INPUT
 */
export function inputLimit(limits: InputLimits): InputLimit {
  const literals = new WeakMap<DocumentNode, GraphQLError | null>();
  return (schema, document, operationName, variables) => {
    let literal = literals.get(document);
    if (literal === undefined) literals.set(document, (literal = literalRefusal(schema, document, limits) ?? null));
    if (literal) return literal;
    if (!variables) return undefined;
    const operation = operationOf(document, operationName);
    for (const def of operation?.variableDefinitions ?? []) {
      const name = def.variable.name.value;
      const type = typeFromAST(schema, def.type as Parameters<typeof typeFromAST>[1]) as GraphQLInputType | undefined;
      if (!type) continue;
      const r = variableRefusal(name, type, variables[name], limits, '', 0);
      if (r) return r;
    }
    return undefined;
  };
}

/** The input limit, applied before execution (so before any resolver or upstream call). */
export function useInputLimit(limit: InputLimit): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refused = limit(args.schema, args.document, args.operationName, args.variableValues as Record<string, unknown> | undefined);
      if (refused) setResultAndStopExecution({ errors: [refused] });
    },
  };
}
