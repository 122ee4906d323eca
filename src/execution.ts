/**
 * Compiled execution: with `GRAPHQL_JIT` on (the default) each operation of a validated document
 * is compiled by graphql-jit once into a function, and an envelop plugin runs it in place of the
 * reference executor, for every request (yoga's Node adapter and the fast path run the same envelop
 * instance).
 *
 * Compiled per *operation*, not per document: a document of two operations is two compiled queries.
 * (@envelop/graphql-jit, used before, kept one per document, for whichever operation ran first, so
 * `operationName: "A"` could answer B's data.) An operation graphql-jit cannot compile (a name not in
 * the document, several operations and none named) runs on yoga's reference executor, whose error the
 * client then gets.
 */
import { BREAK, getOperationAST, Kind, visit, type ASTNode, type DocumentNode, type FragmentDefinitionNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';

/** Runs one operation. */
export type Runner = (contextValue: unknown, variables: Readonly<Record<string, unknown>>) => ExecutionResult | Promise<ExecutionResult>;

export class CompiledOperations {
  private readonly byDocument = new WeakMap<DocumentNode, Map<string | null, Runner | false>>();

  constructor(private readonly schema: GraphQLSchema) {}

  /** The compiled runner of a document's operation (`null`: its only one), compiled on first use; false when graphql-jit cannot compile it. */
  runner(document: DocumentNode, operationName: string | null): Runner | false {
    let ops = this.byDocument.get(document);
    if (!ops) this.byDocument.set(document, (ops = new Map()));
    let run = ops.get(operationName);
    if (run === undefined) {
      run = this.compile(document, operationName);
      ops.set(operationName, run);
    }
    return run;
  }

  /**
   * The envelop plugin: compiled operations instead of the reference executor.
   *
   * @example
   * createYoga({ schema, plugins: [new CompiledOperations(schema).plugin()] });
   */
  plugin(): Plugin {
    return {
      onExecute: ({ args, setExecuteFn }) => {
        const run = this.runner(args.document, args.operationName ?? null);
        if (run) setExecuteFn((a) => run(a.contextValue, (a.variableValues ?? {}) as Record<string, unknown>));
      },
    };
  }

  private compile(document: DocumentNode, operationName: string | null): Runner | false {
    // graphql-jit knows no incremental delivery: it would answer @defer/@stream flattened, all at once.
    // Such a document is left to the reference executor, which streams its parts.
    if (usesIncrementalDelivery(document)) return false;
    const compiled = compileQuery(this.schema, document, operationName ?? undefined);
    if (!isCompiledQuery(compiled)) return false;
    return (contextValue, variables) => compiled.query(undefined, contextValue, variables as Record<string, unknown>) as ExecutionResult | Promise<ExecutionResult>;
  }
}

/**
 * Whether running the operation (`operationName`, or the document's only one) with these variables
 * answers in parts: a `@defer` or `@stream` in it or a fragment it spreads, whose `if` is not false (a
 * literal, or a variable's value or the operation's declared default).
 */
export function answersInParts(document: DocumentNode, operationName: string | null | undefined, variables: Readonly<Record<string, unknown>> | null | undefined): boolean {
  if (!usesIncrementalDelivery(document)) return false;
  const op = getOperationAST(document, operationName ?? undefined);
  if (!op) return false;
  const defaults = new Map<string, unknown>();
  for (const v of op.variableDefinitions ?? []) if (v.defaultValue?.kind === Kind.BOOLEAN) defaults.set(v.variable.name.value, v.defaultValue.value);
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  const reached = new Set<string>();
  const pending: ASTNode[] = [op];
  let found = false;
  while (pending.length && !found) {
    visit(pending.pop()!, {
      FragmentSpread(node) {
        const name = node.name.value;
        const fragment = fragments.get(name);
        if (fragment && !reached.has(name)) {
          reached.add(name);
          pending.push(fragment);
        }
      },
      Directive(node) {
        if (node.name.value !== 'defer' && node.name.value !== 'stream') return undefined;
        const when = node.arguments?.find((a) => a.name.value === 'if')?.value;
        let on = true;
        if (when?.kind === Kind.BOOLEAN) on = when.value;
        else if (when?.kind === Kind.VARIABLE) {
          const name = when.name.value;
          const given = variables?.[name];
          on = (given === undefined ? defaults.get(name) : given) !== false;
        }
        if (!on) return undefined;
        found = true;
        return BREAK;
      },
    });
  }
  return found;
}

const INCREMENTAL = new WeakMap<DocumentNode, boolean>();

/** Whether a document asks for incremental delivery anywhere (`@defer` or `@stream`, in fragments too). */
export function usesIncrementalDelivery(document: DocumentNode): boolean {
  // Asked on every execution (a JSON-only client's 406 check): one walk per parsed document, kept with it.
  let found = INCREMENTAL.get(document);
  if (found !== undefined) return found;
  found = false;
  visit(document, {
    Directive(node) {
      if (node.name.value === 'defer' || node.name.value === 'stream') {
        found = true;
        return BREAK;
      }
      return undefined;
    },
  });
  INCREMENTAL.set(document, found);
  return found;
}
