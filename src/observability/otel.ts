/**
 * OpenTelemetry spans through @opentelemetry/api, with the stable HTTP semantic conventions: a SERVER
 * span per GraphQL request and a CLIENT span per upstream HTTP attempt, started when the attempt is
 * sent, child of the request span; the attempt's headers are injected from its own span through the
 * configured propagators (OTEL_PROPAGATORS), so an upstream's span is a child of the call.
 *
 * Without a registered SDK nothing of this runs: each attempt still sends a W3C `traceparent` whose
 * parent id is a span id of its own (./traceparent.ts), in the request's trace.
 */
import { ROOT_CONTEXT, ProxyTracerProvider, SpanKind, SpanStatusCode, propagation, trace, type Attributes, type Context, type Span, type TextMapPropagator, type Tracer } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Propagator } from '../config.js';
import type { AttemptEvent, UpstreamTarget, UpstreamTrace } from '../connector/index.js';
import { formatTraceparent, newSpanId, type TraceParent } from './traceparent.js';

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

/** Whether an SDK registered a tracer provider (else the API is a no-op and no span is made). */
export function otelEnabled(): boolean {
  const p = trace.getTracerProvider();
  return !(p instanceof ProxyTracerProvider) || p.getDelegateTracer(TRACER_NAME) !== undefined;
}

let installed: TextMapPropagator | undefined;

/**
 * Register the propagators OTEL_PROPAGATORS names as the API's global propagator, unless an SDK
 * registered its own (NodeSDK reads OTEL_PROPAGATORS itself): `propagation.inject` then applies them.
 */
export function installPropagators(list: readonly Propagator[]): void {
  const current = propagation.fields();
  if (current.length > 0 && installed === undefined) return; // an SDK's
  if (installed !== undefined) propagation.disable();
  const made: TextMapPropagator[] = list.map((p) => {
    switch (p) {
      case 'tracecontext':
        return new W3CTraceContextPropagator();
      case 'baggage':
        return new W3CBaggagePropagator();
      case 'b3':
        return new B3Propagator({ injectEncoding: B3InjectEncoding.SINGLE_HEADER });
      case 'b3multi':
        return new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER });
    }
  });
  installed = new CompositePropagator({ propagators: made });
  propagation.setGlobalPropagator(installed);
}

/** The request's context as the client's headers describe it, through the configured propagators (trace context, B3, baggage). */
export function extractContext(headers: IncomingMessage['headers']): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

/** The stable HTTP semantic-convention attributes of the server span. */
function serverAttributes(req: IncomingMessage | undefined, route: string): Attributes {
  if (!req) return {};
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const a: Attributes = {
    'http.request.method': req.method ?? 'GET',
    'http.route': route,
    'url.path': q < 0 ? url : url.slice(0, q),
    'url.scheme': (req.socket as TLSSocket | undefined)?.encrypted ? 'https' : 'http',
  };
  const client = req.socket?.remoteAddress;
  if (client) a['client.address'] = client;
  const ua = req.headers['user-agent'];
  if (ua) a['user_agent.original'] = ua;
  return a;
}

/** Start the request's span (epoch ms start). */
export function startRequestSpan(tracer: Tracer, parent: Context, startEpochMs: number, req?: IncomingMessage, route = '/graphql'): Span {
  return tracer.startSpan(`${req?.method ?? 'POST'} ${route}`, { kind: SpanKind.SERVER, startTime: startEpochMs, attributes: serverAttributes(req, route) }, parent);
}

/**
 * `error.type` of a failed attempt: the status when the upstream answered with an error status, else
 * `timeout`, or the error code (UPSTREAM_UNAVAILABLE, CANCELLED, ...).
 */
export function errorType(e: AttemptEvent): string | undefined {
  if (e.status >= 400) return String(e.status);
  if (!e.error) return undefined;
  return e.error === 'UPSTREAM_TIMEOUT' ? 'timeout' : e.error;
}

/** Each attempt a CLIENT span, child of the request's span, its headers injected from it. */
export class SpanTrace implements UpstreamTrace {
  constructor(
    private readonly tracer: Tracer,
    /** The request span's context (with the client's baggage). */
    private readonly parent: Context,
    private readonly maskPath: (upstream: string, path: string) => string,
  ) {}

  begin(headers: Record<string, string>, target: UpstreamTarget, endpoint: string, method: string, path: string, attempt: number, hedge: boolean): Span {
    const attributes: Attributes = {
      'http.request.method': method,
      'server.address': target.host,
      'server.port': target.port,
      // The origin never has userinfo (URL.origin), and sensitive query parameters are masked.
      'url.full': target.origin + this.maskPath(target.upstream, path),
      'tributary.upstream': target.upstream,
      'tributary.endpoint': endpoint,
      'tributary.attempt': attempt,
      'tributary.hedge': hedge,
    };
    if (attempt > 1) attributes['http.request.resend_count'] = attempt - 1;
    const span = this.tracer.startSpan(`${target.upstream}.${endpoint}`, { kind: SpanKind.CLIENT, attributes }, this.parent);
    propagation.inject(trace.setSpan(this.parent, span), headers);
    return span;
  }

  end(handle: unknown, e: AttemptEvent): void {
    const span = handle as Span;
    if (span.isRecording()) {
      if (e.status > 0) span.setAttribute('http.response.status_code', e.status);
      span.setAttributes({ 'http.response.body.size': e.bytes, 'tributary.keys': e.keys, 'tributary.breaker': e.breaker });
      const type = errorType(e);
      if (type !== undefined) {
        span.setAttribute('error.type', type);
        span.setStatus({ code: SpanStatusCode.ERROR, message: e.error ?? type });
      }
    }
    span.end();
  }
}

/** Without an SDK: each attempt a W3C `traceparent` naming a span id of its own, in the request's trace. */
export class HeaderTrace implements UpstreamTrace {
  constructor(
    private readonly traceId: string,
    private readonly flags: string,
    private readonly tracestate: string | undefined,
  ) {}

  begin(headers: Record<string, string>): undefined {
    headers.traceparent = formatTraceparent(this.traceId, newSpanId(), this.flags);
    if (this.tracestate !== undefined) headers.tracestate = this.tracestate;
    return undefined;
  }

  end(): void {}
}

/** End the request span (its client spans ended with their attempts). */
export function endRequestSpan(
  tracer: Tracer,
  span: Span,
  info: { requestId: string; operationName: string | null; operationType: string | null; status: number; errors: number; attempts: readonly AttemptEvent[] },
  endEpochMs: number,
): void {
  if (!span.isRecording()) {
    span.end(endEpochMs);
    return;
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
