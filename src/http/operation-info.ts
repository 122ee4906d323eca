/** The operation's name and type, recorded for the log line, the trace and the metrics. */
import type { DocumentNode, OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { RequestState } from './request-state.js';

/** Records the operation's name and type for the log line and the trace. */
export function useOperationInfo(): Plugin {
  return {
    onExecute({ args }) {
      const state = (args.contextValue as { state?: RequestState }).state;
      if (!state) return;
      let op: OperationDefinitionNode | undefined;
      for (const d of (args.document as DocumentNode).definitions) {
        if (d.kind === 'OperationDefinition' && (args.operationName == null || d.name?.value === args.operationName)) {
          op = d;
          break;
        }
      }
      state.operationName = op?.name?.value ?? args.operationName ?? null;
      state.operationType = op?.operation ?? null;
    },
  };
}

