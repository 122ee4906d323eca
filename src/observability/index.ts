/**
 * Observability of the gateway: an execution trace per GraphQL request (in `extensions.trace` when
 * asked for and allowed, and in a bounded in-memory store served at `/traces`), a waterfall page,
 * Prometheus metrics at `/metrics`, W3C trace context propagated to every upstream call, and
 * OpenTelemetry spans.
 *
 * Per-request cost when nobody asks for a trace: parse one header, start a (no-op) span, one small
 * record object pushed into a ring, a few counter and histogram updates.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { propagation, trace as otelTrace, type Span } from '@opentelemetry/api';
import { mapAsyncIterator } from '@graphql-tools/utils';
import type { ExecutionResult, GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isAdmin } from '../cache-admin.js';
import type { GatewayConfig } from '../config.js';
import type { Connector, Telemetry } from '../connector/index.js';
import { headerValue, type RequestState, type Route } from '../server.js';
import { GatewayMetrics } from './metrics.js';
import { HeaderTrace, SpanTrace, endRequestSpan, extractContext, getTracer, installPropagators, otelEnabled, parentContext, startRequestSpan } from './otel.js';
import { listPage, pageCsp, waterfallPage } from './pages.js';
import { TraceStore, type TraceFilter } from './store.js';
import { keptErrors, MAX_TRACE_ERROR_MESSAGE, MAX_TRACE_ERRORS, Masker, materialise, outcomeOf, summarise, type Trace, type TraceError, type TraceRecord } from './trace.js';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from './traceparent.js';
import { shownName } from '../http/operation-info.js';

export { TraceStore } from './store.js';
export type { TraceFilter } from './store.js';
export { GatewayMetrics } from './metrics.js';
export { Masker, materialise, summarise, MASK, DEFAULT_SENSITIVE_FIELDS, DEFAULT_SENSITIVE_PARAMS } from './trace.js';
export type { Trace, TraceCall, TraceCacheEntry, TraceSummary, TraceRecord, TraceError, CallOutcome } from './trace.js';
export { parseTraceparent, formatTraceparent, newTraceId, newSpanId } from './traceparent.js';
export type { TraceParent } from './traceparent.js';

/** The permission a client needs to receive its trace in production. */
export const TRACE_PERMISSION = 'trace';
/** The request header that asks for the trace in `extensions.trace`. */
export const TRACE_HEADER = 'x-tributary-trace';

export interface ObservabilityOptions {
  readonly config: GatewayConfig;
  readonly connector: Connector;
  readonly telemetry: Telemetry;
  /** Bearer token of the trace routes in production (`ADMIN_TOKEN`); without it they answer 404 there. */
  readonly adminToken?: string | undefined;
  /** Bearer token `/metrics` requires (`METRICS_TOKEN`); unset, it is open (keep it on an internal network). */
  readonly metricsToken?: string | undefined;
}

export interface Observability {
  /** Yoga plugin: trace context per request, `extensions.trace` when asked for (every request runs it, whichever way it is served). */
  readonly plugin: Plugin<any>;
  /** `/metrics`, `/traces`, `/traces/{id}`. */
  readonly routes: readonly Route[];
  /** The gateway's `onRequestEnd`. */
  readonly onRequestEnd: (state: RequestState, status: number, aborted: boolean) => void;
  readonly store: TraceStore;
  readonly metrics: GatewayMetrics;
  readonly masker: Masker;
  /** The JSON trace of a stored request. */
  trace(requestId: string): Trace | undefined;
  /** Counts the server's GraphQL requests in flight (`tributary_graphql_requests_in_flight`). */
  watch(server: import('node:http').Server): void;
  close(): void;
}

/** What the plugin keeps per request until it ends. */
interface Live {
  readonly traceId: string;
  readonly span: Span;
  errors: TraceError[] | undefined;
  /** @defer/@stream: errors of the parts beyond the MAX_TRACE_ERRORS kept as they came. */
  errorsNotKept: number;
  /** @defer/@stream: ms after the request's start at which each part was handed to the response. */
  parts: number[] | undefined;
  /** The request's document and operation name, for requests that never execute (validation errors). */
  query: string | undefined;
  operationName: string | undefined;
}

/** One part of an incremental (@defer/@stream) answer, as far as the trace reads it. */
interface IncrementalPart {
  readonly errors?: readonly GraphQLError[];
  readonly incremental?: ReadonlyArray<{ readonly errors?: readonly GraphQLError[] }>;
}

/** An error as the trace keeps it (its message cut to what a trace keeps). */
const traceError = (e: GraphQLError): TraceError => ({
  message: e.message.length > MAX_TRACE_ERROR_MESSAGE ? `${e.message.slice(0, MAX_TRACE_ERROR_MESSAGE - 1)}…` : e.message,
  code: typeof e.extensions?.code === 'string' ? e.extensions.code : undefined,
  path: e.path,
});

const FIRST_OPERATION = /^\s*(?:#[^\n]*\n\s*)*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/;

/** The operation's name: as executed, else as asked, else the first named operation of the document. */
function operationNameOf(state: RequestState, l: Live | undefined): string | null {
  if (state.operationName !== null) return state.operationName;
  if (!l) return null;
  if (l.operationName) return shownName(l.operationName);
  return shownName((l.query && FIRST_OPERATION.exec(l.query.slice(0, 2048))?.[1]) || null);
}

const EMPTY: readonly never[] = [];

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...extra });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function wantsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return /\btext\/html\b/i.test(accept) && !/^\s*application\/json/i.test(accept);
}

function errorBody(message: string, code: string, requestId: string) {
  return { errors: [{ message, extensions: { code, requestId } }] };
}

/** Parse the list filters; a wrong value is a clear 400. */
function parseFilter(search: URLSearchParams): TraceFilter | string {
  const op = search.get('operation') || undefined;
  const statusRaw = search.get('status') || undefined;
  let status: TraceFilter['status'];
  if (statusRaw !== undefined) {
    if (statusRaw === 'ok' || statusRaw === 'error') status = statusRaw;
    else if (/^[1-5]\d\d$/.test(statusRaw)) status = Number(statusRaw);
    else return `status must be "ok", "error" or an HTTP status, but is ${JSON.stringify(statusRaw)}.`;
  }
  const minRaw = search.get('minDurationMs') || undefined;
  let minDurationMs: number | undefined;
  if (minRaw !== undefined) {
    minDurationMs = Number(minRaw);
    if (!Number.isFinite(minDurationMs) || minDurationMs < 0) return `minDurationMs must be a number >= 0, but is ${JSON.stringify(minRaw)}.`;
  }
  const limitRaw = search.get('limit') || undefined;
  let limit: number | undefined;
  if (limitRaw !== undefined) {
    limit = Number(limitRaw);
    if (!Number.isSafeInteger(limit) || limit < 1) return `limit must be an integer >= 1, but is ${JSON.stringify(limitRaw)}.`;
  }
  return { operation: op, status, minDurationMs, limit };
}

/**
 * Build the gateway's observability. Wire `plugin`, `routes` and `onRequestEnd` into the server.
 *
 * @example
 * const obs = createObservability({ config, connector, telemetry, adminToken: env.ADMIN_TOKEN });
 * createGatewayServer({ ..., plugins: [obs.plugin], routes: obs.routes, onRequestEnd: obs.onRequestEnd });
 */
export function createObservability(opts: ObservabilityOptions): Observability {
  const { config, connector } = opts;
  const store = new TraceStore(config.traces.storeSize);
  const metrics = new GatewayMetrics({ telemetry: opts.telemetry, connector });
  const masker = new Masker(connector.definitions);
  const tracer = getTracer();
  installPropagators(config.propagators);
  const maskPath = (upstream: string, path: string): string => masker.path(upstream, path);
  const live = new WeakMap<RequestState, Live>();
  const origin = performance.timeOrigin;

  const allowed = (state: RequestState): boolean => config.mode !== 'production' || state.client?.permissions.has(TRACE_PERMISSION) === true;

  function recordOf(state: RequestState, l: Live | undefined, durationMs: number, status: number, aborted: boolean): TraceRecord {
    const { errors, notKept: cut } = keptErrors(l?.errors ?? state.errorCodes.map((code) => ({ message: '', code, path: undefined })));
    const notKept = cut + (l?.errorsNotKept ?? 0);
    return {
      requestId: state.requestId,
      traceId: l?.traceId ?? '',
      operationName: operationNameOf(state, l),
      operationType: state.operationType,
      client: state.client?.name ?? null,
      userId: state.user?.id ?? null,
      startedAt: state.startedAt,
      durationMs,
      status,
      aborted,
      errors,
      ...(notKept > 0 ? { errorsNotKept: notKept } : {}),
      attempts: state.scope?.attempts ?? EMPTY,
      cacheEvents: state.scope?.cacheEvents ?? EMPTY,
      ...(l?.parts ? { parts: l.parts } : {}),
    };
  }

  /** Start the request's span in the client's trace (its `traceparent`, else a new trace) and keep it until the request ends. */
  function begin(state: RequestState, traceparent: string | null | undefined, tracestate: string | null | undefined): Live {
    if (otelEnabled()) {
      // The client's context through the configured propagators (W3C or B3, and its baggage).
      const parent = extractContext(state.headers);
      const span = startRequestSpan(tracer, parent, origin + state.startedAt, state.req);
      const ctx = otelTrace.setSpan(parent, span);
      const traceId = span.spanContext().traceId;
      // Each upstream attempt gets its own client span, child of this one; a token fetch names this one.
      state.upstreamTrace = new SpanTrace(tracer, ctx, maskPath);
      state.propagate = {};
      propagation.inject(ctx, state.propagate);
      state.traceId = traceId;
      const l: Live = { traceId, span, errors: undefined, errorsNotKept: 0, parts: undefined, query: undefined, operationName: undefined };
      live.set(state, l);
      return l;
    }
    const given = parseTraceparent(traceparent ?? null);
    const span = startRequestSpan(tracer, parentContext(given), origin + state.startedAt);
    const traceId = given?.traceId ?? newTraceId();
    const spanId = newSpanId();
    const flags = given?.flags ?? '01';
    // Sent as is only by a call without the request's trace (`propagate`); each attempt of the request names a span id of its own.
    state.propagate = { traceparent: formatTraceparent(traceId, spanId, flags) };
    state.traceId = traceId;
    const passed = given ? tracestate : null;
    const keep = passed && passed.length <= 512 && !/[\r\n\0]/.test(passed) ? passed : undefined;
    if (keep !== undefined) state.propagate.tracestate = keep;
    state.upstreamTrace = new HeaderTrace(traceId, flags, keep);
    const l: Live = { traceId, span, errors: undefined, errorsNotKept: 0, parts: undefined, query: undefined, operationName: undefined };
    live.set(state, l);
    return l;
  }

  /** The request's live record, begun from its Node headers when yoga's `onRequest` did not run (a refusal, the direct path). */
  const liveOf = (state: RequestState): Live => live.get(state) ?? begin(state, headerValue(state.headers.traceparent), headerValue(state.headers.tracestate));

  const plugin: Plugin<{ state?: RequestState }> = {
    onRequest({ serverContext }) {
      const state = (serverContext as { state?: RequestState } | undefined)?.state;
      if (state) liveOf(state);
    },
    onParams({ params, context }) {
      const state = (context as { state?: RequestState } | undefined)?.state;
      const l = state && live.get(state);
      if (!l) return;
      l.query = typeof params.query === 'string' ? params.query : undefined;
      l.operationName = typeof params.operationName === 'string' ? params.operationName : undefined;
    },
    onResultProcess({ request, result, setResult, serverContext }) {
      const state = (serverContext as { state?: RequestState } | undefined)?.state;
      if (!state || !result || typeof result !== 'object') return;
      if (Symbol.asyncIterator in result) {
        const l = live.get(state);
        if (l) setResult(tracedParts(state, l, result as AsyncIterable<IncrementalPart>) as typeof result);
        return;
      }
      const results = (Array.isArray(result) ? result : [result]) as ExecutionResult[];
      const traced = processResults(state, results, request.headers.get(TRACE_HEADER));
      if (traced) setResult(Array.isArray(result) ? traced : traced[0]!);
    },
  };

  /**
   * A request's results (an array for a batched HTTP request, which shares one request, so one
   * trace): their errors are recorded; with the trace asked for (`x-tributary-trace: 1`) and
   * allowed, the results carrying it in `extensions.trace` are returned.
   */
  /**
   * @defer/@stream in the trace: when each part was handed to the response (this plugin's wrapper is the
   * last before the response), and the errors of each part and of its incremental entries as the client
   * saw them, as many as a trace keeps, the rest counted as they come (a long @stream may fail item after item).
   */
  function tracedParts(state: RequestState, l: Live, parts: AsyncIterable<IncrementalPart>): AsyncIterable<IncrementalPart> {
    const times: number[] = (l.parts = []);
    const seen = (errors: readonly GraphQLError[] | undefined) => {
      for (const e of errors ?? []) {
        const kept = (l.errors ??= []);
        if (kept.length < MAX_TRACE_ERRORS) kept.push(traceError(e));
        else l.errorsNotKept++;
      }
    };
    return mapAsyncIterator(parts, (part) => {
      times.push(performance.now() - state.startedAt);
      seen(part.errors);
      for (const entry of part.incremental ?? []) seen(entry.errors);
      return part;
    });
  }

  function processResults(state: RequestState, results: readonly ExecutionResult[], traceHeader: string | null | undefined): ExecutionResult[] | undefined {
    const l = live.get(state);
    const errors = results.flatMap((r) => r.errors ?? []);
    if (l && errors.length) {
      l.errors = errors.map(traceError);
    }
    if (traceHeader !== '1' || !allowed(state)) return undefined;
    const now = performance.now();
    const status = (results[0]?.extensions?.http as { status?: number } | undefined)?.status ?? 200;
    const trace = materialise(recordOf(state, l, now - state.startedAt, status, false), masker, origin + state.startedAt);
    return results.map((r) => ({ ...r, extensions: { ...r.extensions, trace } }));
  }


  function onRequestEnd(state: RequestState, status: number, aborted: boolean): void {
    const end = performance.now();
    const durationMs = Math.round((end - state.startedAt) * 100) / 100; // as shown, so filters agree with the list
    // A request answered before yoga ran (a refusal) gets its span and trace id here, in the client's trace.
    const l = liveOf(state);
    const record = recordOf(state, l, durationMs, status, aborted);
    if (config.traces.enabled) store.add(record);
    metrics.request(record.operationName, state.operationType, durationMs, state.refused ? 'refused' : outcomeOf(record), state.errorCodes);
    if (l) {
      endRequestSpan(
        tracer,
        l.span,
        { requestId: state.requestId, operationName: record.operationName, operationType: state.operationType, status, errors: record.errors.length + (record.errorsNotKept ?? 0), attempts: record.attempts },
        origin + end,
      );
    }
  }

  function mayRead(req: IncomingMessage): boolean {
    return config.mode !== 'production' || isAdmin(req, opts.adminToken);
  }

  function trace(requestId: string): Trace | undefined {
    const r = store.get(requestId);
    return r && materialise(r, masker, origin + r.startedAt);
  }

  const routes: Route[] = [
    {
      method: 'GET',
      path: '/metrics',
      async handle(req, res, requestId) {
        if (opts.metricsToken !== undefined && !isAdmin(req, opts.metricsToken)) {
          const body = JSON.stringify(errorBody('/metrics needs Authorization: Bearer <METRICS_TOKEN>.', 'UNAUTHENTICATED', requestId));
          return send(res, 401, 'application/json; charset=utf-8', body, { 'www-authenticate': 'Bearer' });
        }
        send(res, 200, metrics.contentType, await metrics.text());
      },
    },
    {
      method: 'GET',
      path: '/traces',
      handle(req, res, requestId) {
        if (!mayRead(req)) return sendJson(res, 404, errorBody('Not found. GraphQL is served at /graphql.', 'NOT_FOUND', requestId));
        const filter = parseFilter(new URL(req.url ?? '/', 'http://x').searchParams);
        if (typeof filter === 'string') return sendJson(res, 400, errorBody(filter, 'BAD_REQUEST', requestId));
        const list = store.list(filter).map((r) => summarise(r, origin + r.startedAt));
        if (wantsHtml(req)) {
          const nonce = randomBytes(16).toString('base64');
          return send(res, 200, 'text/html; charset=utf-8', listPage(list, nonce), { 'content-security-policy': pageCsp(nonce) });
        }
        sendJson(res, 200, { capacity: store.capacity, size: store.size, traces: list });
      },
    },
    {
      method: 'GET',
      path: '/traces/',
      handle(req, res, requestId) {
        if (!mayRead(req)) return sendJson(res, 404, errorBody('Not found. GraphQL is served at /graphql.', 'NOT_FOUND', requestId));
        const raw = (req.url ?? '').split('?', 1)[0]!.slice('/traces/'.length);
        let id: string;
        try {
          id = decodeURIComponent(raw);
        } catch {
          return sendJson(res, 400, errorBody('The trace id is not a valid URL path segment.', 'BAD_REQUEST', requestId));
        }
        const t = id ? trace(id) : undefined;
        if (!t) return sendJson(res, 404, errorBody(`No trace with request id ${JSON.stringify(id.slice(0, 128))} is kept (the newest ${store.capacity} are).`, 'NOT_FOUND', requestId));
        if (wantsHtml(req)) {
          const nonce = randomBytes(16).toString('base64');
          return send(res, 200, 'text/html; charset=utf-8', waterfallPage(t, nonce), { 'content-security-policy': pageCsp(nonce) });
        }
        sendJson(res, 200, t);
      },
    },
  ];

  return {
    plugin,
    routes,
    onRequestEnd,
    store,
    metrics,
    masker,
    trace,
    watch: (server) => metrics.watch(server),
    close() {
      metrics.close();
      store.clear();
    },
  };
}
