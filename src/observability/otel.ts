/**
 * OpenTelemetry spans through @opentelemetry/api: a SERVER span per GraphQL request and a CLIENT span
 * per upstream HTTP attempt. Without a registered SDK the API is a no-op (the request span is a
 * non-recording span and no attempt span is made). With one, the upstream spans are written when the
 * request ends, from the attempts the request scope collected, with their real start and end times.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { AttemptEvent } from '../connector/index.js';
import type { TraceParent } from './traceparent.js';

export const TRACER_NAME = 'tributary';

/** The tracer (the global provider's; a no-op until an SDK registers one). */
export function getTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** The context a client's `traceparent` describes, as the parent of our request span. */
export function parentContext(tp: TraceParent | null): Context {
  if (!tp) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: tp.traceId, spanId: tp.parentId, traceFlags: parseInt(tp.flags, 16) & 1, isRemote: true });
}

/** Start the request's span (epoch ms start). */
export function startRequestSpan(tracer: Tracer, parent: Context, startEpochMs: number): Span {
  return tracer.startSpan('graphql request', { kind: SpanKind.SERVER, startTime: startEpochMs }, parent);
}

/** End the request span, adding one child span per upstream attempt (only when the span records). */
export function endRequestSpan(
  tracer: Tracer,
  span: Span,
  info: { requestId: string; operationName: string | null; operationType: string | null; status: number; errors: number; attempts: readonly AttemptEvent[]; maskPath: (upstream: string, path: string) => string },
  endEpochMs: number,
): void {
  if (!span.isRecording()) {
    span.end(endEpochMs);
    return;
  }
  const origin = performance.timeOrigin;
  const ctx = trace.setSpan(ROOT_CONTEXT, span);
  for (const a of info.attempts) {
    const child = tracer.startSpan(
      `${a.upstream}.${a.endpoint}`,
      {
        kind: SpanKind.CLIENT,
        startTime: origin + a.start,
        attributes: {
          'http.request.method': a.method,
          'url.path': info.maskPath(a.upstream, a.path),
          'http.response.status_code': a.status,
          'tributary.upstream': a.upstream,
          'tributary.endpoint': a.endpoint,
          'tributary.attempt': a.attempt,
          'tributary.hedge': a.hedge,
          'tributary.keys': a.keys,
          'tributary.breaker': a.breaker,
          'http.response.body.size': a.bytes,
        },
      },
      ctx,
    );
    if (a.error) child.setStatus({ code: SpanStatusCode.ERROR, message: a.error });
    child.end(origin + a.start + a.durationMs);
  }
  span.setAttributes({
    'tributary.request_id': info.requestId,
    'graphql.operation.name': info.operationName ?? '',
    'graphql.operation.type': info.operationType ?? '',
    'http.response.status_code': info.status,
    'tributary.upstream_calls': info.attempts.length,
  });
  if (info.operationName) span.updateName(`${info.operationType ?? 'graphql'} ${info.operationName}`);
  if (info.errors > 0 || info.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end(endEpochMs);
}
