/**
 * Field access by schema directive: a field marked `@pii` (or any field of a type marked `@pii`) is
 * resolved only for a client holding the `pii` permission. For any other identified client the
 * field's resolver is not run (so no upstream is called for it): the field is null with a FORBIDDEN
 * error. Requests with no identified client (no clients configured) are not restricted.
 */
import { defaultFieldResolver, isObjectType, type ASTNode, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { TributaryError } from '../errors.js';
import type { RequestState } from '../server.js';

/** A field the client may not read. */
export class ForbiddenFieldError extends TributaryError {
  constructor(coordinate: string, permission: string) {
    super('FORBIDDEN', `Not allowed to read ${coordinate}: the client lacks the "${permission}" permission.`, {
      extensions: { permission },
    });
    this.name = 'ForbiddenFieldError';
  }
}

function hasDirective(node: ASTNode | null | undefined, name: string): boolean {
  return Boolean(node && 'directives' in node && node.directives?.some((d) => d.name.value === name));
}

/** Schema coordinates (`Type.field`) that carry the directive, directly or through their type. */
export function fieldsWithDirective(schema: GraphQLSchema, directive = 'pii'): string[] {
  const out: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    const onType = hasDirective(type.astNode, directive) || Boolean(type.extensionASTNodes?.some((n) => hasDirective(n, directive)));
    for (const field of Object.values(type.getFields())) {
      if (onType || hasDirective(field.astNode, directive)) out.push(`${type.name}.${field.name}`);
    }
  }
  return out.sort();
}

/**
 * Wrap, in place, the resolvers of the fields marked with `directive` so that they run only for a
 * client holding `permission`. Returns the schema and the guarded coordinates.
 *
 * @example
 * const schema = guardFieldAccess(composeGatewaySchema());
 */
export function guardFieldAccess(schema: GraphQLSchema, directive = 'pii', permission = 'pii'): GraphQLSchema {
  const guarded = new Set(fieldsWithDirective(schema, directive));
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    for (const field of Object.values(type.getFields())) {
      const coordinate = `${type.name}.${field.name}`;
      if (!guarded.has(coordinate)) continue;
      const inner: GraphQLFieldResolver<unknown, unknown> = field.resolve ?? defaultFieldResolver;
      field.resolve = (source, args, ctx, info) => {
        const client = (ctx as { state?: RequestState } | null)?.state?.client;
        if (client && !client.permissions.has(permission)) throw new ForbiddenFieldError(coordinate, permission);
        return inner(source, args, ctx, info);
      };
    }
  }
  return schema;
}

/**
 * Writes by permission: every root field of the mutation type is resolved only for a client holding
 * `permission` (an identified API client without it gets FORBIDDEN, and the resolver, so the write,
 * never runs). Callers that are not API clients are judged by the resolvers (a signed-in user).
 *
 * @example
 * const schema = guardMutations(guardFieldAccess(composeGatewaySchema()));
 */
export function guardMutations(schema: GraphQLSchema, permission = 'write'): GraphQLSchema {
  const mutation = schema.getMutationType();
  for (const field of Object.values(mutation?.getFields() ?? {})) {
    const coordinate = `${mutation!.name}.${field.name}`;
    const inner: GraphQLFieldResolver<unknown, unknown> = field.resolve ?? defaultFieldResolver;
    field.resolve = (source, args, ctx, info) => {
      const client = (ctx as { state?: RequestState } | null)?.state?.client;
      if (client && !client.permissions.has(permission)) throw new ForbiddenFieldError(coordinate, permission);
      return inner(source, args, ctx, info);
    };
  }
  return schema;
}
