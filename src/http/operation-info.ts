/** The operation's name and type, recorded for the log line, the trace and the metrics. */
import type { DocumentNode, OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { RequestState } from './request-state.js';

/** Operation names longer than this are cut where they are shown (logs, traces, metrics): a name is a client's string. */
export const MAX_OPERATION_NAME = 128;

/** A client's operation name as logged and traced: at most MAX_OPERATION_NAME characters, an ellipsis marking a cut. */
export function shownName<T extends string | null | undefined>(name: T): T {
  return (typeof name === 'string' && name.length > MAX_OPERATION_NAME ? `${name.slice(0, MAX_OPERATION_NAME - 1)}…` : name) as T;
}

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
      state.operationName = shownName(op?.name?.value ?? args.operationName ?? null);
      state.operationType = op?.operation ?? null;
    },
  };
}

