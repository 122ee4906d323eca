/**
 * W3C Trace Context (`traceparent`, version 00): parsing what a client sends and formatting what we
 * send to every upstream call. https://www.w3.org/TR/trace-context/ section 3.2.
 */
import { randomBytes } from 'node:crypto';

/** The parts of a `traceparent` header. Ids are lower-case hex. */
export interface TraceParent {
  /** 32 hex digits, not all zero. */
  readonly traceId: string;
  /** 16 hex digits, not all zero: the caller's span (the parent of ours). */
  readonly parentId: string;
  /** 2 hex digits; bit 0 is "sampled". */
  readonly flags: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Parse a `traceparent` header; `null` when absent or invalid (the request then starts a new trace).
 * Version `ff` and all-zero ids are invalid; a future version is read by its first four fields.
 */
export function parseTraceparent(header: string | undefined | null): TraceParent | null {
  if (!header || header.length > 512) return null;
  const m = TRACEPARENT.exec(header.trim());
  if (!m) return null;
  const [, version, traceId, parentId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff') return null;
  if (version === '00' && rest !== undefined) return null; // version 00 has exactly four fields
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return null;
  return { traceId, parentId, flags };
}

/** `00-<traceId>-<spanId>-<flags>`. */
export function formatTraceparent(traceId: string, spanId: string, flags: string): string {
  return `00-${traceId}-${spanId}-${flags}`;
}

// Random ids come from a pooled buffer: one crypto call per 512 ids instead of one per id.
let pool = Buffer.alloc(0);
let offset = 0;
function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const s = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return s;
}

/** A new random trace id (32 hex digits, never all zero). */
export function newTraceId(): string {
  const id = randomHex(16);
  return id === ZERO_TRACE ? newTraceId() : id;
}

/** A new random span id (16 hex digits, never all zero). */
export function newSpanId(): string {
  const id = randomHex(8);
  return id === ZERO_SPAN ? newSpanId() : id;
}
