/**
 * Field usage as an envelop plugin: `onExecute` sees every executed operation (each one of a batch),
 * with the schema, the parsed document and the operation name; the client comes from the request
 * state the security layer filled in. The per-request work is the recorder's hot path.
 */
import type { Plugin } from 'graphql-yoga';
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
