/**
 * Field usage as an envelop plugin: `onExecute` sees every executed operation (each one of a batch),
 * with the schema, the parsed document and the operation name; the client comes from the request
 * state the security layer filled in. The per-request work is the recorder's hot path.
 */
import type { DocumentNode, GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { DirectHooks } from '../direct.js';
import type { RequestState } from '../server.js';
import type { UsageRecorder } from './recorder.js';
import { ANONYMOUS_CLIENT } from './types.js';

/**
 * @example
 * createYoga({ schema, plugins: [useFieldUsage(recorder)] });
 */
export function useFieldUsage(recorder: UsageRecorder): Plugin {
  return {
    onExecute({ args }) {
      const entry = recorder.entry(args.schema, args.document, args.operationName);
      if (!entry) return;
      const state = (args.contextValue as { state?: RequestState } | undefined)?.state;
      recorder.record(entry, state?.client?.name ?? ANONYMOUS_CLIENT);
    },
  };
}

/**
 * The same for a request the server executes without yoga (`src/direct.ts`): `admit` notes the
 * document (it may not change state), `start` counts it once the request is surely executed there.
 */
export function fieldUsageDirect(recorder: UsageRecorder): DirectHooks {
  const admitted = new WeakMap<RequestState, { schema: GraphQLSchema; document: DocumentNode; operationName: string | null }>();
  return {
    admit(state, params, document, schema) {
      admitted.set(state, { schema, document, operationName: params.operationName });
      return true;
    },
    start(state) {
      const a = admitted.get(state);
      if (!a) return;
      const entry = recorder.entry(a.schema, a.document, a.operationName);
      if (entry) recorder.record(entry, state.client?.name ?? ANONYMOUS_CLIENT);
    },
  };
}
