/**
 * pino logger. Credentials never reach it by construction (the engine logs no headers and no
 * secrets); the redact list is a second line of defence for anything that looks like one.
 */
import { write as fsWrite, writeSync as fsWriteSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Most characters of log lines held while the output is slower than the gateway (about 8 MB of ASCII). */
export const MAX_PENDING_LOG_CHARS = 8 * 1024 * 1024;
/** Characters of queued lines that are written at once; fewer wait up to LOG_BATCH_DELAY_MS. */
export const LOG_BATCH_CHARS = 32 * 1024;
/** Longest a queued line waits for its batch to fill. */
export const LOG_BATCH_DELAY_MS = 100;
/** At most one "dropping log lines" warning on standard error per this many ms. */
const DROP_WARNING_EVERY_MS = 60_000;

/**
 * Log lines to a file descriptor (standard output), written in batches: once 32 KB are queued or
 * the oldest queued line has waited 100 ms, everything queued goes out in one write, and lines
 * logged while a write is in progress go out together when it ends (a pipe write costs the
 * gateway's core a thread hand-off and two wake-ups, whatever its size). A reader slower than the gateway (a pipe to a busy log
 * collector) makes the queue grow only up to `maxPendingChars`; lines beyond it are dropped and
 * counted (`tributary_log_lines_dropped_total`, and a warning on standard error at most once a
 * minute), so memory stays bounded and requests never wait for the log. A closed output (EPIPE)
 * drops every later line the same way; nothing is thrown.
 *
 * (pino's default destination, sonic-boom, writes at most 16 KB per loop turn and measures the
 * whole pending chunk on every line; at 200 concurrent requests one loop turn takes long enough
 * that ProductPage lines arrive faster than 16 KB per turn, and its buffer grew without bound:
 * 4 MB after a 10 s warm-up, 12 MB 30 s later, in a heap snapshot.)
 */
export class LogOutput implements DestinationStream {
  private pending: string[] = [];
  private pendingChars = 0;
  private writing = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private dropped = 0;
  private writes = 0;
  private lastWarning = -Infinity;
  private readonly waiters: (() => void)[] = [];

  constructor(
    private readonly fd: number,
    private readonly maxPendingChars = MAX_PENDING_LOG_CHARS,
    /** Told (at most once a minute) that lines are being dropped: a JSON line on standard error by default. */
    private readonly warn: (dropped: number) => void = warnOnStderr,
  ) {}

  write(line: string): void {
    if (this.closed || this.pendingChars + line.length > this.maxPendingChars) {
      this.drop(1);
      return;
    }
    this.pending.push(line);
    this.pendingChars += line.length;
    if (!this.writing) this.schedule();
  }

  /** Calls `cb` once every line written so far has reached the descriptor (or was dropped). */
  flush(cb: () => void = () => {}): void {
    if (!this.writing && this.pending.length === 0) return cb();
    this.waiters.push(cb);
    if (!this.writing) this.next();
  }

  /** Write what is queued now, synchronously (at exit). A write still in progress is left to finish on its own. */
  flushSync(): void {
    if (this.closed || this.pending.length === 0) return;
    let buf = this.take();
    for (let tries = 0; buf.length > 0 && tries < 1000; tries++) {
      try {
        buf = buf.subarray(fsWriteSync(this.fd, buf));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      }
    }
  }

  /** Lines dropped, lines and characters waiting, and writes made (diagnostics, metrics, tests). */
  stats(): { dropped: number; pendingLines: number; pendingChars: number; writes: number } {
    return { dropped: this.dropped, pendingLines: this.pending.length, pendingChars: this.pendingChars, writes: this.writes };
  }

  /** Write now when a batch is full, else within LOG_BATCH_DELAY_MS. */
  private schedule(): void {
    if (this.pendingChars >= LOG_BATCH_CHARS) return this.next();
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (!this.writing) this.next();
    }, LOG_BATCH_DELAY_MS).unref();
  }

  private take(): Buffer {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const buf = Buffer.from(this.pending.length === 1 ? this.pending[0]! : this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingChars = 0;
    return buf;
  }

  private next(): void {
    if (this.pending.length === 0 || this.closed) {
      this.writing = false;
      for (const cb of this.waiters.splice(0)) cb();
      return;
    }
    this.writing = true;
    this.send(this.take());
  }

  private send(buf: Buffer): void {
    this.writes++;
    fsWrite(this.fd, buf, 0, buf.length, null, (err, written) => {
      if (err) {
        if (err.code === 'EAGAIN') {
          // A non-blocking descriptor that is full: try again shortly, the bytes kept.
          setTimeout(() => this.send(buf), 10);
          return;
        }
        // EPIPE, EBADF...: the output is gone. Count what was and would be written as dropped.
        this.closed = true;
        this.drop(countLines(buf) + this.pending.length);
        this.pending = [];
        this.pendingChars = 0;
        return this.next();
      }
      if (written < buf.length) return this.send(buf.subarray(written));
      if (this.waiters.length > 0 || this.pending.length === 0) return this.next();
      this.writing = false;
      this.schedule();
    });
  }

  private drop(lines: number): void {
    this.dropped += lines;
    const now = performance.now();
    if (now - this.lastWarning < DROP_WARNING_EVERY_MS) return;
    this.lastWarning = now;
    this.warn(this.dropped);
  }
}

function warnOnStderr(dropped: number): void {
  try {
    fsWriteSync(2, `${JSON.stringify({ level: 40, time: Date.now(), service: 'tributary', dropped, msg: 'log output is not keeping up: dropping log lines' })}\n`);
  } catch {
    /* standard error is gone too */
  }
}

function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

let stdoutOutput: LogOutput | undefined;

/** The process's standard output as a LogOutput (one per process), written out at exit. */
export function stdoutLog(): LogOutput {
  if (stdoutOutput) return stdoutOutput;
  const out = new LogOutput(1);
  process.once('exit', () => out.flushSync());
  stdoutOutput = out;
  return out;
}

/** Log lines dropped on standard output so far (0 when nothing logs there). */
export function droppedLogLines(): number {
  return stdoutOutput?.stats().dropped ?? 0;
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
    opts.destination ?? stdoutLog(),
  );
}
