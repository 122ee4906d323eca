/**
 * How an operation runs: compiled by graphql-jit (`GRAPHQL_JIT`, on by default) once per operation
 * of a document, or by graphql-js' reference executor. One cache serves both paths of the server:
 * yoga's (as an envelop plugin that replaces its execute function) and the direct one
 * (`src/direct.ts`).
 *
 * Compiled per *operation*, not per document: a document of two operations is two compiled queries.
 * (@envelop/graphql-jit, used before, kept one per document, for whichever operation ran first, so
 * `operationName: "A"` could answer B's data.) An operation graphql-jit cannot compile (a name not in
 * the document, several operations and none named) runs on the reference executor, whose error the
 * client then gets.
 */
import { execute, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';

/** Runs one operation. */
export type Runner = (contextValue: unknown, variables: Readonly<Record<string, unknown>>) => ExecutionResult | Promise<ExecutionResult>;

export class CompiledOperations {
  private readonly byDocument = new WeakMap<DocumentNode, Map<string | null, Runner | false>>();

  constructor(
    private readonly schema: GraphQLSchema,
    /** false: every runner is the reference executor (GRAPHQL_JIT=off). */
    readonly jit: boolean,
  ) {}

  /**
   * The runner of a document's operation (`null`: its only one), compiled on first use; false when
   * graphql-jit cannot compile it. Without jit, always the reference executor.
   */
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

  /** The envelop plugin for yoga's path: compiled operations instead of the reference executor (when jit is on). */
  plugin(): Plugin {
    return {
      onExecute: ({ args, setExecuteFn }) => {
        const run = this.runner(args.document, args.operationName ?? null);
        if (run) setExecuteFn((a) => run(a.contextValue, (a.variableValues ?? {}) as Record<string, unknown>));
      },
    };
  }

  private compile(document: DocumentNode, operationName: string | null): Runner | false {
    const name = operationName ?? undefined;
    if (!this.jit) {
      const schema = this.schema;
      return (contextValue, variableValues) => execute({ schema, document, operationName: name, contextValue, variableValues }) as ExecutionResult | Promise<ExecutionResult>;
    }
    const compiled = compileQuery(this.schema, document, name);
    if (!isCompiledQuery(compiled)) return false;
    return (contextValue, variables) => compiled.query(undefined, contextValue, variables as Record<string, unknown>) as ExecutionResult | Promise<ExecutionResult>;
  }
}
