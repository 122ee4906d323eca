/**
 * Response validation, compiled once per endpoint (TypeBox's TypeCompiler generates a checker
 * function), never per call. A failed check is reported as the JSON pointer of the first mismatch,
 * never the value, so nothing from an upstream's body leaks into an error.
 */
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

/** Returns undefined when the value matches, else the JSON pointer of the first mismatch. */
export type Validator = (value: unknown) => string | undefined;

const compiled = new WeakMap<TSchema, Validator>();

export function compileValidator(schema: TSchema): Validator {
  const hit = compiled.get(schema);
  if (hit) return hit;
  const check = TypeCompiler.Compile(schema);
  const v: Validator = (value) => {
    if (check.Check(value)) return undefined;
    const first = check.Errors(value).First();
    return first ? first.path || '/' : '/';
  };
  compiled.set(schema, v);
  return v;
}
