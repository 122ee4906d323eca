/**
 * The one error module. Every error the engine raises has a stable `code` (what clients switch on), a
 * `name`, and a default message; `isX(e)` guards work across realms because they test `code`, not
 * `instanceof`. Messages are written for clients: they never contain an upstream URL, a credential, a
 * stack, or an upstream's raw body (DESIGN.md, "Errors that reach clients").
 */

export type ErrorCode =
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_ERROR'
  | 'UPSTREAM_UNAUTHORIZED'
  | 'UPSTREAM_CONTRACT_VIOLATION'
  | 'BAD_USER_INPUT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'CONFIGURATION_ERROR';

export interface ErrorDetails {
  /** Extra fields that are safe to show a client (they end up in `extensions`). */
  readonly extensions?: Record<string, unknown>;
  readonly cause?: unknown;
}

export class TributaryError extends Error {
  readonly code: ErrorCode;
  readonly extensions: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.name = 'TributaryError';
    this.extensions = details.extensions ?? {};
  }
}

/** Anything that went wrong talking to one upstream. `upstream` and `endpoint` are always set. */
export class UpstreamError extends TributaryError {
  readonly upstream: string;
  readonly endpoint: string;
  /** HTTP status the upstream answered, when it answered. Internal: not shown to clients. */
  readonly status: number | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    where: { upstream: string; endpoint: string; status?: number | undefined },
    details: ErrorDetails = {},
  ) {
    super(code, message, {
      ...details,
      extensions: { ...details.extensions, upstream: where.upstream, endpoint: where.endpoint },
    });
    this.name = 'UpstreamError';
    this.upstream = where.upstream;
    this.endpoint = where.endpoint;
    this.status = where.status;
  }
}

type Where = { upstream: string; endpoint: string; status?: number | undefined };

/** The upstream could not be reached (refused, reset, breaker open, bulkhead full). */
export class UpstreamUnavailableError extends UpstreamError {
  constructor(where: Where, reason = 'is unavailable', details?: ErrorDetails) {
    super('UPSTREAM_UNAVAILABLE', `Upstream "${where.upstream}" ${reason}.`, where, details);
    this.name = 'UpstreamUnavailableError';
  }
}

/** The per-attempt timeout or the request's deadline passed before the upstream answered. */
export class UpstreamTimeoutError extends UpstreamError {
  constructor(where: Where, details?: ErrorDetails) {
    super('UPSTREAM_TIMEOUT', `Upstream "${where.upstream}" did not answer in time.`, where, details);
    this.name = 'UpstreamTimeoutError';
  }
}

/** The upstream answered with an error status, or with a body that is not JSON. */
export class UpstreamHttpError extends UpstreamError {
  /** Seconds from a `Retry-After` header, when the upstream sent one. Internal. */
  readonly retryAfterMs: number | undefined;
  constructor(where: Where, reason: string, retryAfterMs?: number, details?: ErrorDetails) {
    super('UPSTREAM_ERROR', `Upstream "${where.upstream}" ${reason}.`, where, details);
    this.name = 'UpstreamHttpError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** The upstream refused our credential (401/403): even after one refresh, or at once for a call that is not sent twice. */
export class UpstreamUnauthorizedError extends UpstreamError {
  constructor(where: Where, details?: ErrorDetails) {
    super('UPSTREAM_UNAUTHORIZED', `Upstream "${where.upstream}" refused the gateway's credential.`, where, details);
    this.name = 'UpstreamUnauthorizedError';
  }
}

/** The upstream's response does not match the schema its endpoint declares. `path` is a JSON pointer. */
export class UpstreamContractViolationError extends UpstreamError {
  readonly path: string;
  constructor(where: Where, path: string, details?: ErrorDetails) {
    super(
      'UPSTREAM_CONTRACT_VIOLATION',
      `Upstream "${where.upstream}" answered "${where.endpoint}" with a response that breaks its contract at ${path || '/'}.`,
      where,
      { ...details, extensions: { ...details?.extensions, path: path || '/' } },
    );
    this.name = 'UpstreamContractViolationError';
    this.path = path;
  }
}

/** The client asked for something that cannot be answered as asked. */
export class BadUserInputError extends TributaryError {
  constructor(message: string, extensions?: Record<string, unknown>) {
    super('BAD_USER_INPUT', message, extensions ? { extensions } : {});
    this.name = 'BadUserInputError';
  }
}

/** A definition or an environment variable is wrong; raised at start-up, never per request. */
export class ConfigurationError extends TributaryError {
  constructor(message: string) {
    super('CONFIGURATION_ERROR', message);
    this.name = 'ConfigurationError';
  }
}

export const isTributaryError = (e: unknown): e is TributaryError =>
  e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && 'extensions' in e;
export const isUpstreamError = (e: unknown): e is UpstreamError =>
  isTributaryError(e) && typeof (e as { upstream?: unknown }).upstream === 'string';
export const isUpstreamTimeout = (e: unknown): e is UpstreamTimeoutError =>
  isTributaryError(e) && e.code === 'UPSTREAM_TIMEOUT';
export const isUpstreamUnavailable = (e: unknown): e is UpstreamUnavailableError =>
  isTributaryError(e) && e.code === 'UPSTREAM_UNAVAILABLE';
export const isUpstreamUnauthorized = (e: unknown): e is UpstreamUnauthorizedError =>
  isTributaryError(e) && e.code === 'UPSTREAM_UNAUTHORIZED';
export const isContractViolation = (e: unknown): e is UpstreamContractViolationError =>
  isTributaryError(e) && e.code === 'UPSTREAM_CONTRACT_VIOLATION';
export const isBadUserInput = (e: unknown): e is BadUserInputError =>
  isTributaryError(e) && e.code === 'BAD_USER_INPUT';
