/**
 * What a caller may learn from an upstream's refusal (a 4xx answer): a write's caller (a workflow)
 * must tell a declined card (402 `card_declined`) from a conflict (409 `{ message, sku }`) from an
 * outage. The endpoint declares the refusal body's schema and picks a small detail from it; the
 * engine validates the body, keeps only short scalar fields, and puts the detail on the error as a
 * property (`UpstreamRefusedError.detail`), never in `extensions`: it is for the caller, not for the
 * client, and no raw body ever travels further.
 */
import type { TSchema } from '@sinclair/typebox';
import { UpstreamHttpError, isTributaryError } from '../errors.js';
import type { ErrorDetail, ErrorDetailSpec } from './types.js';
import { compileValidator, type Validator } from './validation.js';

/** Fields kept of a detail, and characters kept of a string field. */
const MAX_FIELDS = 8;
const MAX_STRING = 200;

export interface ErrorDetailReader {
  readonly validator: Validator;
  readonly pick: (body: any, status: number) => ErrorDetail;
}

export function compileErrorDetail(spec: ErrorDetailSpec<TSchema>): ErrorDetailReader {
  return { validator: compileValidator(spec.response), pick: spec.pick };
}

/**
 * The detail of a refusal: undefined when the body is not JSON, breaks the declared schema, or the
 * pick throws. Only scalar fields are kept, at most MAX_FIELDS, strings cut to MAX_STRING.
 */
export function readErrorDetail(reader: ErrorDetailReader, raw: Buffer, status: number): ErrorDetail | undefined {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
  if (reader.validator(body) !== undefined) return undefined;
  let picked: unknown;
  try {
    picked = reader.pick(body, status);
  } catch {
    return undefined;
  }
  if (typeof picked !== 'object' || picked === null) return undefined;
  const out: Record<string, string | number | boolean | null> = {};
  let n = 0;
  for (const [k, v] of Object.entries(picked)) {
    if (n === MAX_FIELDS) break;
    if (typeof v === 'string') out[k] = v.length > MAX_STRING ? v.slice(0, MAX_STRING) : v;
    else if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean' || v === null) out[k] = v;
    else continue;
    n++;
  }
  return Object.freeze(out);
}

/**
 * The upstream refused the call (a 4xx other than 401/403, or a 404 not read as null), with the detail
 * its endpoint declares. `code` stays `UPSTREAM_ERROR` (every existing guard and policy applies);
 * `status` is the upstream's; `detail` is for the caller only.
 *
 * Defined here, beside the reader, rather than in src/errors.ts: the engine's part of the code base
 * (this folder) owns write calls; it extends the one error module's UpstreamHttpError.
 */
export class UpstreamRefusedError extends UpstreamHttpError {
  readonly detail: ErrorDetail | undefined;
  constructor(where: { upstream: string; endpoint: string; status: number }, detail: ErrorDetail | undefined) {
    super(where, `refused the call (status ${where.status})`);
    this.name = 'UpstreamRefusedError';
    this.detail = detail;
  }
}

/** Is this an upstream's refusal (with its status, and the detail its endpoint declares)? */
export const isUpstreamRefused = (e: unknown): e is UpstreamRefusedError =>
  isTributaryError(e) && e.code === 'UPSTREAM_ERROR' && (e as { name?: unknown }).name === 'UpstreamRefusedError';
