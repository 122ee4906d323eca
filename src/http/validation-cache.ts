/**
 * The validation cache: a document valid (or not) against the schema under the same rules is so for
 * every request, so its verdict is kept per document. Yoga's own cache (turned off in `yoga.ts`)
 * keys each lookup by the rule names joined into one string and an LRU over it, per request; here
 * the rules are compared one by one with those the verdict was reached under, by identity and, for a
 * rule created anew, by name. Rules are compared by name, as yoga does, because plugins such as
 * graphql-armor's add a new closure of the same rule on every request.
 *
 * Put it after every plugin that adds validation rules, so it sees them all.
 */
import type { DocumentNode, GraphQLError, GraphQLSchema, ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';

interface Verdict {
  readonly schema: GraphQLSchema;
  readonly rules: readonly ValidationRule[];
  readonly ruleNames: readonly string[];
  readonly errors: readonly GraphQLError[];
}

/** The same rules as the verdict's: the same function, or one of the same name (a function's `name` is a slow accessor, so it is read only when the identity differs). */
function sameRules(rules: readonly ValidationRule[], verdict: Verdict): boolean {
  if (rules.length !== verdict.rules.length) return false;
  for (let i = 0; i < rules.length; i++) if (rules[i] !== verdict.rules[i] && rules[i]!.name !== verdict.ruleNames[i]) return false;
  return true;
}

/**
 * @example
 * createYoga({ parserAndValidationCache: { validationCache: false }, plugins: [...rulePlugins, useValidationCache()] });
 */
export function useValidationCache(): Plugin {
  const verdicts = new WeakMap<DocumentNode, Verdict>();
  return {
    onValidate({ params: { schema, documentAST, rules }, setResult }) {
      if (!rules) return;
      const used: readonly ValidationRule[] = rules;
      const known = verdicts.get(documentAST);
      if (known && known.schema === schema && sameRules(used, known)) {
        setResult(known.errors as GraphQLError[]);
        return;
      }
      return ({ result }) => {
        verdicts.set(documentAST, { schema, rules: [...used], ruleNames: used.map((r) => r.name), errors: result as readonly GraphQLError[] });
      };
    },
  };
}
