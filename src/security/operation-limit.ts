/**
 * Rate limits count operations, not HTTP requests. A request is identified, and counted once, before
 * its body is read (so a client over its limit costs no parsing); a batched request's other
 * operations are counted here, once the body is parsed, and the whole batch is refused with 429 when
 * they would pass the limit. Without this a batch of 10 cost one request of the limit.
 */
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { RequestState } from '../server.js';
import type { ClientRefusal, ClientRegistry } from './clients.js';

function refuse(state: RequestState, refusal: ClientRefusal | null): void {
  if (!refusal) return;
  state.refused = true;
  throw createGraphQLError(refusal.message, {
    extensions: {
      code: refusal.code,
      http: { status: refusal.status, headers: refusal.retryAfterSeconds ? { 'retry-after': String(refusal.retryAfterSeconds) } : {} },
    },
  });
}

/**
 * The yoga plugin that charges a batch's operations beyond its first to the identified client.
 *
 * @example
 * createGatewayServer({ plugins: [useOperationRateLimit(clients), ...] });
 */
export function useOperationRateLimit(clients: ClientRegistry): Plugin {
  return {
    onRequestParse({ serverContext }) {
      const state = (serverContext as { state?: RequestState } | undefined)?.state;
      const name = state?.client?.name;
      if (!state || name === undefined || !clients.byName(name)?.rateLimit) return;
      return {
        onRequestParseDone({ requestParserResult }) {
          // Yoga's batch limit (10) has refused larger batches before this hook.
          if (!Array.isArray(requestParserResult) || requestParserResult.length < 2) return;
          const charged = clients.chargeOperations(name, requestParserResult.length - 1);
          if (charged instanceof Promise) return charged.then((r) => refuse(state, r));
          refuse(state, charged);
        },
      };
    },
  };
}
