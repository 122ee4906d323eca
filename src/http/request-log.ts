/** The one log line of a GraphQL request, refused or not, written when its response is done. */
import type { Logger } from '../logging.js';
import type { RequestState } from './request-state.js';

/** What a log line shows of an error: its name and message, never its stack or its properties. */
export const errorInfo = (e: unknown): { name: string; message: string } | string => (e instanceof Error ? { name: e.name, message: e.message } : String(e));

/** Write the request line: operation, client, user, status, duration, error codes and every upstream attempt (`status/duration` per endpoint). */
export function logRequest(logger: Logger, state: RequestState, status: number, aborted: boolean): void {
  if (!logger.isLevelEnabled('info')) return;
  const calls = state.scope?.attempts ?? [];
  const upstream: Record<string, string> = {};
  for (const a of calls) {
    const k = `${a.upstream}.${a.endpoint}`;
    const part = `${a.status || a.error || 'ERR'}/${Math.round(a.durationMs)}ms`;
    upstream[k] = upstream[k] ? `${upstream[k]},${part}` : part;
  }
  logger.info(
    {
      requestId: state.requestId,
      traceId: state.traceId,
      operation: state.operationName,
      type: state.operationType,
      client: state.client?.name,
      user: state.user?.id,
      status,
      aborted: aborted || undefined,
      durationMs: Math.round((performance.now() - state.startedAt) * 10) / 10,
      errors: state.errorCodes.length ? state.errorCodes : undefined,
      upstreamCalls: calls.length,
      upstream,
    },
    'graphql request',
  );
}
