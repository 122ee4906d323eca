/**
 * Execution traces. While a request runs, nothing is built: the connector's request scope already
 * collects every HTTP attempt and cache outcome. When the request ends a small `TraceRecord` keeps a
 * reference to those lists; the JSON `Trace` (masked paths, masked debug bodies, offsets relative to
 * the request's start) is materialised only when someone asks for it.
 */
import type { AttemptEvent, CacheStatus, UpstreamDef } from '../connector/index.js';
import { allowListed } from './body-allow-list.js';

/** A cache outcome as the request scope records it. */
export interface CacheEventRecord {
  readonly upstream: string;
  readonly endpoint: string;
  readonly status: CacheStatus;
  readonly keys: number;
  readonly store: string;
  readonly at: number;
}

/** A GraphQL error as the client saw it (message, code, path). */
export interface TraceError {
  readonly message: string;
  readonly code: string | undefined;
  readonly path: readonly (string | number)[] | undefined;
}

/** A trace keeps at most this many errors, each message at most MAX_TRACE_ERROR_MESSAGE characters: messages quote a client's document. */
export const MAX_TRACE_ERRORS = 20;
export const MAX_TRACE_ERROR_MESSAGE = 512;

/** The errors a trace keeps (the first MAX_TRACE_ERRORS, messages cut with an ellipsis) and how many it left out. */
export function keptErrors(errors: readonly TraceError[]): { errors: readonly TraceError[]; notKept: number } {
  const kept = errors.length > MAX_TRACE_ERRORS ? errors.slice(0, MAX_TRACE_ERRORS) : errors;
  const cut = kept.some((e) => e.message.length > MAX_TRACE_ERROR_MESSAGE)
    ? kept.map((e) => (e.message.length > MAX_TRACE_ERROR_MESSAGE ? { ...e, message: `${e.message.slice(0, MAX_TRACE_ERROR_MESSAGE - 1)}…` } : e))
    : kept;
  return { errors: cut, notKept: errors.length - kept.length };
}

/** What the store keeps per request: cheap to make, materialised into a `Trace` on demand. */
export interface TraceRecord {
  readonly requestId: string;
  readonly traceId: string;
  readonly operationName: string | null;
  readonly operationType: string | null;
  readonly client: string | null;
  readonly userId: string | null;
  /** performance.now() at the start of the request. */
  readonly startedAt: number;
  durationMs: number;
  status: number;
  aborted: boolean;
  errors: readonly TraceError[];
  /** Errors the client saw beyond the MAX_TRACE_ERRORS kept. */
  errorsNotKept?: number;
  /** The request scope's lists (kept by reference: attempts that end late still show). */
  readonly attempts: readonly AttemptEvent[];
  readonly cacheEvents: readonly CacheEventRecord[];
  /** Incremental delivery (@defer, @stream): ms after the request's start at which each part left. */
  readonly parts?: readonly number[];
}

/** Colour class of a call in the waterfall. */
export type CallOutcome = 'ok' | 'retried' | 'error' | 'cancelled';

/** One HTTP attempt to an upstream, relative to the request. */
export interface TraceCall {
  readonly upstream: string;
  readonly endpoint: string;
  readonly method: string;
  /** Path and query, sensitive query parameters masked. */
  readonly path: string;
  readonly keys: number;
  readonly attempt: number;
  readonly hedge: boolean;
  /** `miss`: the cache was read first and did not hold the keys; `bypass`: the endpoint is not cached. */
  readonly cache: 'miss' | 'bypass';
  readonly breaker: string;
  /** 0 when no response arrived. */
  readonly status: number;
  readonly bytes: number;
  readonly offsetMs: number;
  readonly durationMs: number;
  readonly outcome: CallOutcome;
  readonly error?: string;
  readonly contractViolation?: string;
  /** A write call's Idempotency-Key, hashed (sha-256 prefix): which attempts were one call, never the key. */
  readonly idempotencyKeyHash?: string;
  /** Debug level only: only the fields the endpoint's mapping reads, declared sensitive fields masked, no URL. */
  readonly body?: unknown;
}

/** A cache outcome that made no HTTP call in this request (hit, stale, coalesced). */
export interface TraceCacheEntry {
  readonly upstream: string;
  readonly endpoint: string;
  readonly status: CacheStatus;
  readonly keys: number;
  readonly store: string;
  readonly offsetMs: number;
}

/** The JSON trace of one GraphQL request. */
export interface Trace {
  readonly requestId: string;
  readonly traceId: string;
  readonly operationName: string | null;
  readonly operationType: string | null;
  readonly client: string | null;
  readonly userId: string | null;
  /** Wall-clock start, ISO 8601. */
  readonly start: string;
  readonly durationMs: number;
  readonly status: number;
  readonly aborted: boolean;
  readonly outcome: 'ok' | 'error';
  readonly errors: readonly TraceError[];
  /** Errors the client saw beyond the ones kept (at most MAX_TRACE_ERRORS are). */
  readonly errorsNotKept?: number;
  /** Every upstream HTTP attempt, ordered by start. */
  readonly calls: readonly TraceCall[];
  /** Cache outcomes, ordered by time. */
  readonly cache: readonly TraceCacheEntry[];
  /** @defer/@stream answers: when each part left, in ms after the start (the first is the initial payload). */
  readonly parts?: readonly number[];
}

/** One line of `GET /traces`. */
export interface TraceSummary {
  readonly requestId: string;
  readonly traceId: string;
  readonly operationName: string | null;
  readonly operationType: string | null;
  readonly start: string;
  readonly durationMs: number;
  readonly status: number;
  readonly outcome: 'ok' | 'error';
  readonly calls: number;
  readonly failedCalls: number;
  readonly errors: number;
}

/** Query parameters masked in every upstream, whatever the definitions say. */
export const DEFAULT_SENSITIVE_PARAMS = ['access_token', 'api_key', 'apikey', 'key', 'token', 'password', 'secret', 'client_secret', 'signature', 'sig', 'auth', 'authorization'];
/** Body fields masked in every upstream's debug bodies. */
export const DEFAULT_SENSITIVE_FIELDS = ['password', 'secret', 'token', 'access_token', 'refresh_token', 'client_secret', 'authorization', 'apikey', 'api_key'];

export const MASK = '[masked]';
/** Debug bodies larger than this (serialised) are replaced by a note. */
const MAX_BODY_CHARS = 64 * 1024;

const round = (ms: number): number => Math.round(ms * 100) / 100;

/** Masks paths and bodies by each upstream's declared sensitive parameters and fields. */
export class Masker {
  private readonly params = new Map<string, ReadonlySet<string>>();
  private readonly fields = new Map<string, ReadonlySet<string>>();
  private readonly defaultParams = new Set(DEFAULT_SENSITIVE_PARAMS);
  private readonly defaultFields = new Set(DEFAULT_SENSITIVE_FIELDS);
  private readonly definitions = new Map<string, UpstreamDef>();

  constructor(definitions: ReadonlyMap<string, UpstreamDef> | Iterable<[string, UpstreamDef]>) {
    for (const [name, def] of definitions) {
      this.definitions.set(name, def);
      this.params.set(name, new Set([...DEFAULT_SENSITIVE_PARAMS, ...(def.sensitiveParams ?? []).map((p) => p.toLowerCase())]));
      this.fields.set(name, new Set([...DEFAULT_SENSITIVE_FIELDS, ...(def.sensitiveFields ?? []).map((f) => f.toLowerCase())]));
    }
  }

  /** `/v1/x?token=abc&q=1` → `/v1/x?token=[masked]&q=1` (parameter names compared case-insensitively). */
  path(upstream: string, path: string): string {
    const q = path.indexOf('?');
    if (q < 0) return path;
    const names = this.params.get(upstream) ?? this.defaultParams;
    const parts = path.slice(q + 1).split('&');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      const eq = p.indexOf('=');
      let name = eq < 0 ? p : p.slice(0, eq);
      try {
        name = decodeURIComponent(name);
      } catch {
        // keep the raw name
      }
      if (names.has(name.toLowerCase())) parts[i] = `${eq < 0 ? p : p.slice(0, eq)}=${MASK}`;
    }
    return `${path.slice(0, q)}?${parts.join('&')}`;
  }

  /**
   * What a trace shows of an upstream call's response body: masked by allow-list (only the fields the
   * endpoint's mapping reads keep their values, no URL: `body-allow-list.ts`), then by the declared
   * sensitive fields. An endpoint the definitions do not know shows nothing.
   */
  callBody(upstream: string, endpoint: string, body: unknown): unknown {
    const def = this.definitions.get(upstream)?.endpoints[endpoint];
    return this.body(upstream, allowListed(def, body));
  }

  /** A copy of a response body with every declared sensitive field (at any depth) masked. */
  body(upstream: string, body: unknown): unknown {
    const names = this.fields.get(upstream) ?? this.defaultFields;
    const masked = maskDeep(body, names, 0);
    const text = JSON.stringify(masked) ?? '';
    return text.length > MAX_BODY_CHARS ? { truncated: true, chars: text.length } : masked;
  }
}

function maskDeep(v: unknown, names: ReadonlySet<string>, depth: number): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (depth > 32) return MASK;
  if (Array.isArray(v)) return v.map((x) => maskDeep(x, names, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = names.has(k.toLowerCase()) ? MASK : maskDeep(x, names, depth + 1);
  return out;
}

const callKey = (a: AttemptEvent): string => `${a.upstream}\u0000${a.endpoint}\u0000${a.method}\u0000${a.path}`;

/** Turn a record into its JSON trace (masked, ordered, offsets relative to the request's start). */
export function materialise(r: TraceRecord, masker: Masker, wallStart: number): Trace {
  const attempts = [...r.attempts].sort((a, b) => a.start - b.start);
  const missed = new Set<string>();
  for (const c of r.cacheEvents) if (c.status === 'miss') missed.add(`${c.upstream}.${c.endpoint}`);
  const calls: TraceCall[] = attempts.map((a, i) => {
    let outcome: CallOutcome = 'ok';
    if (a.error === 'CANCELLED') outcome = 'cancelled';
    else if (a.error) {
      // Failed: retried when a later attempt of the same call exists (a retry, or the 401 refresh).
      const k = callKey(a);
      outcome = attempts.some((b, j) => j > i && b.attempt >= a.attempt && callKey(b) === k) ? 'retried' : 'error';
    }
    return {
      upstream: a.upstream,
      endpoint: a.endpoint,
      method: a.method,
      path: masker.path(a.upstream, a.path),
      keys: a.keys,
      attempt: a.attempt,
      hedge: a.hedge,
      cache: missed.has(`${a.upstream}.${a.endpoint}`) ? 'miss' : 'bypass',
      breaker: a.breaker,
      status: a.status,
      bytes: a.bytes,
      offsetMs: round(Math.max(0, a.start - r.startedAt)),
      durationMs: round(a.durationMs),
      outcome,
      ...(a.error ? { error: a.error } : {}),
      ...(a.contractViolation !== undefined ? { contractViolation: a.contractViolation } : {}),
      ...(a.idempotencyKeyHash !== undefined ? { idempotencyKeyHash: a.idempotencyKeyHash } : {}),
      ...(a.body !== undefined ? { body: masker.callBody(a.upstream, a.endpoint, a.body) } : {}),
    };
  });
  const cache: TraceCacheEntry[] = r.cacheEvents
    .filter((c) => c.status !== 'miss' && c.status !== 'bypass')
    .map((c) => ({ upstream: c.upstream, endpoint: c.endpoint, status: c.status, keys: c.keys, store: c.store, offsetMs: round(Math.max(0, c.at - r.startedAt)) }))
    .sort((a, b) => a.offsetMs - b.offsetMs);
  return {
    requestId: r.requestId,
    traceId: r.traceId,
    operationName: r.operationName,
    operationType: r.operationType,
    client: r.client,
    userId: r.userId,
    start: new Date(wallStart).toISOString(),
    durationMs: round(r.durationMs),
    status: r.status,
    aborted: r.aborted,
    outcome: outcomeOf(r),
    errors: r.errors,
    ...(r.errorsNotKept ? { errorsNotKept: r.errorsNotKept } : {}),
    calls,
    cache,
    ...(r.parts?.length ? { parts: r.parts.map(round) } : {}),
  };
}

/** `error` when the client saw an error (GraphQL errors, an HTTP error, or it went away). */
export function outcomeOf(r: Pick<TraceRecord, 'errors' | 'status' | 'aborted'>): 'ok' | 'error' {
  return r.errors.length > 0 || r.status >= 400 || r.aborted ? 'error' : 'ok';
}

/** The list line of a record. */
export function summarise(r: TraceRecord, wallStart: number): TraceSummary {
  let failed = 0;
  for (const a of r.attempts) if (a.error && a.error !== 'CANCELLED') failed++;
  return {
    requestId: r.requestId,
    traceId: r.traceId,
    operationName: r.operationName,
    operationType: r.operationType,
    start: new Date(wallStart).toISOString(),
    durationMs: round(r.durationMs),
    status: r.status,
    outcome: outcomeOf(r),
    calls: r.attempts.length,
    failedCalls: failed,
    errors: r.errors.length + (r.errorsNotKept ?? 0),
  };
}
