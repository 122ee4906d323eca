/**
 * pino logger. Credentials never reach it by construction (the engine logs no headers and no
 * secrets); the redact list is a second line of defence for anything that looks like one.
 */
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Standard output, written in batches of up to 4 KB (one write per many lines instead of one per
 * line), at least every 250 ms, and at once on `flushLogs()` and at exit.
 */
function bufferedStdout(): DestinationStream {
  const dest = pino.destination({ dest: 1, minLength: 4096, sync: false });
  setInterval(() => dest.flush(), 250).unref();
  process.once('exit', () => {
    try {
      dest.flushSync();
    } catch {
      /* not ready yet, or closed: nothing buffered to lose */
    }
  });
  return dest;
}

/** Write what the logger buffered now (a start-up line others wait for). */
export function flushLogs(logger: Logger): void {
  logger.flush();
}

/** Keys whose values are never logged: at the top of a line, one level down, and in a `headers` object at either place. */
const SECRET_KEYS = new Set(['authorization', 'password', 'token', 'secret']);
const SECRET_HEADERS = new Set(['authorization', 'x-api-key']);
export const CENSOR = '[redacted]';

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `headers` with its secret headers censored: the same object when it has none. */
function censorHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const k in headers) if (SECRET_HEADERS.has(k) || SECRET_KEYS.has(k)) (out ??= { ...headers })[k] = CENSOR;
  return out ?? headers;
}

/** One level of an object: secret keys censored, `headers` censored; the same object when nothing is. */
function censorLevel(obj: Record<string, unknown>, deeper: boolean): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const k in obj) {
    const v = obj[k];
    let w = v;
    if (SECRET_KEYS.has(k)) w = CENSOR;
    else if (isRecord(v)) w = k === 'headers' ? censorHeaders(v) : deeper ? censorLevel(v, false) : v;
    if (w !== v) (out ??= { ...obj })[k] = w;
  }
  return out ?? obj;
}

/**
 * The second line of defence for anything that looks like a credential (the engine logs no headers
 * and no secrets by construction): `authorization`, `password`, `token` and `secret` at the top of a
 * line or one level down, and `authorization` / `x-api-key` in a `headers` object at either level,
 * are written as "[redacted]". A line without them is passed through as is, so the check costs a walk
 * of its keys and allocates nothing (pino's path-based redaction parsed its paths and copied parts of
 * every line: a tenth of all the memory a request allocated). The logged object is never changed.
 */
export function redactSecrets(obj: Record<string, unknown>): Record<string, unknown> {
  return censorLevel(obj, true);
}

export function createLogger(opts: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: 'tributary' },
      formatters: { log: redactSecrets },
    },
    opts.destination ?? bufferedStdout(),
  );
}
