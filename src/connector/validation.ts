/**
 * Response validation, compiled once per endpoint (TypeBox's TypeCompiler generates a checker
 * function), never per call. A failed check is reported as the JSON pointer of the first mismatch,
 * never the value, so nothing from an upstream's body leaks into an error.
 */
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';

/**
 * Returns undefined when the value matches, else the JSON pointer of the first mismatch. `convert`
 * (used in `report` mode only, after a mismatch) returns a copy with what still maps converted to the
 * declared types, e.g. a number sent as a string becomes a number again.
 */
export type Validator = ((value: unknown) => string | undefined) & { readonly convert: (value: unknown) => unknown };

const compiled = new WeakMap<TSchema, Validator>();

export function compileValidator(schema: TSchema): Validator {
  const hit = compiled.get(schema);
  if (hit) return hit;
  const check = TypeCompiler.Compile(schema);
  const v: Validator = Object.assign(
    (value: unknown) => {
      if (check.Check(value)) return undefined;
      const first = check.Errors(value).First();
      return first ? first.path || '/' : '/';
    },
    { convert: (value: unknown) => Value.Convert(schema, Value.Clone(value)) },
  );
  compiled.set(schema, v);
  return v;
}
