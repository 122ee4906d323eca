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
/**
 * Most characters in one write: a write cut short (a full pipe, the process ending) leaves at most
 * this much unsent, and the queue behind it goes out in the next.
 */
export const LOG_WRITE_CHARS = 64 * 1024;
/** Longest a queued line waits for its batch to fill. */
export const LOG_BATCH_DELAY_MS = 100;
/** At most one "dropping log lines" warning on standard error per this many ms. */
const DROP_WARNING_EVERY_MS = 60_000;

/**
 * Log lines to a file descriptor (standard output), written in batches off the event loop: once
 * 32 KB are queued or the oldest queued line has waited 100 ms, the queue goes out in `fs.write`s
 * (libuv's thread pool) of up to 64 KB of whole lines, one after the other. A pipe write costs
 * the gateway's core a thread hand-off and two wake-ups whatever its size, so batches are large.
 * A reader slower than the gateway (a pipe to a busy log collector) makes the queue grow only up to
 * `maxPendingChars` (queued and being written together); lines beyond it are dropped and counted
 * (`tributary_log_lines_dropped_total`, and a warning on standard error at most once a minute), so
 * memory stays bounded and requests never wait for the log. A closed output (EPIPE) drops every
 * later line the same way; nothing is thrown. Lines are written whole and in order.
 *
 * (pino's default destination, sonic-boom, writes at most 16 KB per loop turn and measures the
 * whole pending chunk on every line; at 200 concurrent requests one loop turn takes long enough
 * that ProductPage lines arrive faster than 16 KB per turn, and its buffer grew without bound:
 * 4 MB after a 10 s warm-up, 12 MB 30 s later, in a heap snapshot.)
 */
export class LogOutput implements DestinationStream {
  private queue: string[] = [];
  private queuedChars = 0;
  /** When the oldest queued line was queued (performance.now()). */
  private oldestAt = 0;
  /** The batch being written: its unwritten bytes and its line count. */
  private batch: { buf: Buffer; lines: number } | null = null;
  /** An fs.write of the batch is running in the thread pool (not merely waiting to retry), since writeStartedAt. */
  private inWrite = false;
  private writeStartedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Lines accepted, and lines written or dropped after being accepted: a flush waits for the first to reach the second. */
  private accepted = 0;
  private settled = 0;
  private dropped = 0;
  private writes = 0;
  private lastWarning = -Infinity;
  private waiters: { upTo: number; cb: () => void }[] = [];

  constructor(
    private readonly fd: number,
    private readonly maxPendingChars = MAX_PENDING_LOG_CHARS,
    /** Told (at most once a minute) that lines are being dropped: a JSON line on standard error by default. */
    private readonly warn: (dropped: number) => void = warnOnStderr,
  ) {}

  write(line: string): void {
    if (this.closed || this.queuedChars + (this.batch?.buf.length ?? 0) + line.length > this.maxPendingChars) {
      this.drop(1);
      return;
    }
    if (this.queue.length === 0) this.oldestAt = performance.now();
    this.queue.push(line);
    this.queuedChars += line.length;
    this.accepted++;
    if (!this.batch) this.schedule();
  }

  /** Calls `cb` once every line logged before the call has been written (or dropped), however many follow. */
  flush(cb: () => void = () => {}): void {
    if (this.settled >= this.accepted) return cb();
    this.waiters.push({ upTo: this.accepted, cb });
    if (!this.batch) this.start();
  }

  /**
   * Write what is queued, synchronously (pino's `fatal` calls this): the batch left waiting to
   * retry first, then the queue; on a full non-blocking descriptor it waits 10 ms at a time, up to
   * a second, and counts what is left as dropped. While a write is running in the thread pool it
   * writes nothing (the queue follows that write, in order).
   */
  flushSync(): void {
    if (!this.inWrite) this.writeOutSync();
  }

  /**
   * At exit: as `flushSync`, but the queue is written even while a batch (at most 64 KB) is still
   * being written by the thread pool, whose callback will never run: a last line, the reason for a
   * crash, is worth more than the order of two batches, which carry their times. When that write
   * has been stuck for over a second the reader is not reading, and nothing more is tried (a
   * synchronous write would block the exit). A graceful stop waits for `flush` instead (src/main.ts).
   */
  drainAtExit(): void {
    // Nobody is left to call back, and a callback that exits (src/main.ts) would cut this write short.
    this.waiters = [];
    if (this.inWrite && performance.now() - this.writeStartedAt > 1000) return;
    this.writeOutSync();
  }

  private writeOutSync(): void {
    if (this.closed) return;
    // A batch in the thread pool stays there; a batch waiting to retry is sent first.
    let b: { buf: Buffer; lines: number } | null = this.inWrite ? null : this.batch;
    if (!b && this.queue.length > 0) b = this.take();
    if (!this.inWrite) this.batch = b;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    const until = performance.now() + 1000;
    while (b) {
      const cur = b;
      try {
        const n = fsWriteSync(this.fd, cur.buf);
        if (n < cur.buf.length) {
          cur.buf = cur.buf.subarray(n);
          continue;
        }
        this.settle(cur.lines);
        b = this.queue.length > 0 ? this.take() : null;
        if (!this.inWrite) this.batch = b;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' || performance.now() > until) {
          this.drop(cur.lines + this.queue.length, true);
          this.queue = [];
          this.queuedChars = 0;
          if (!this.inWrite) this.batch = null;
          return;
        }
        Atomics.wait(pause, 0, 0, 10);
      }
    }
  }

  /** Lines dropped, lines and characters waiting (queued and being written), and write calls made. */
  stats(): { dropped: number; pendingLines: number; pendingChars: number; writes: number } {
    return {
      dropped: this.dropped,
      pendingLines: this.queue.length + (this.batch?.lines ?? 0),
      pendingChars: this.queuedChars + (this.batch?.buf.length ?? 0),
      writes: this.writes,
    };
  }

  /** With nothing being written: write now if a batch is full, a flush waits or the oldest line is due; else when it is due. */
  private schedule(): void {
    if (this.queue.length === 0) return;
    if (this.queuedChars >= LOG_BATCH_CHARS || this.waiters.length > 0) return this.start();
    if (this.timer) return;
    const wait = LOG_BATCH_DELAY_MS - (performance.now() - this.oldestAt);
    if (wait <= 0) return this.start();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.batch) this.start();
    }, wait).unref();
  }

  /** The next batch: whole lines from the front of the queue, up to LOG_WRITE_CHARS (at least one line). */
  private take(): { buf: Buffer; lines: number } {
    let lines = 0;
    let chars = 0;
    while (lines < this.queue.length && (lines === 0 || chars + this.queue[lines]!.length <= LOG_WRITE_CHARS)) chars += this.queue[lines++]!.length;
    const taken = lines === this.queue.length ? this.queue : this.queue.slice(0, lines);
    this.queue = lines === this.queue.length ? [] : this.queue.slice(lines);
    this.queuedChars -= chars;
    // Lines left keep the oldest time: they are due no later than it says.
    return { buf: Buffer.from(lines === 1 ? taken[0]! : taken.join(''), 'utf8'), lines };
  }

  /** Take the queue as the batch and write it. */
  private start(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.closed || this.queue.length === 0) return;
    this.batch = this.take();
    this.send();
  }

  private send(): void {
    const b = this.batch!;
    this.writes++;
    this.inWrite = true;
    this.writeStartedAt = performance.now();
    fsWrite(this.fd, b.buf, 0, b.buf.length, null, (err, written) => {
      this.inWrite = false;
      if (this.batch !== b) return; // written out by flushSync meanwhile (cannot happen while inWrite; kept safe)
      if (err) {
        if (err.code === 'EAGAIN') {
          // A full non-blocking descriptor: try again shortly, the bytes kept (flushSync may send them first).
          setTimeout(() => {
            if (this.batch === b && !this.inWrite) this.send();
          }, 10).unref();
          return;
        }
        // EPIPE, EBADF...: the output is gone. What was being written and what is queued are dropped.
        this.closed = true;
        this.drop(b.lines + this.queue.length, true);
        this.queue = [];
        this.queuedChars = 0;
        this.batch = null;
        return;
      }
      if (written < b.buf.length) {
        b.buf = b.buf.subarray(written);
        return this.send();
      }
      this.batch = null;
      this.settle(b.lines);
      this.schedule();
    });
  }

  /** `lines` accepted lines are written (or dropped): call back the flushes they complete. */
  private settle(lines: number): void {
    this.settled += lines;
    if (this.waiters.length === 0) return;
    const due = this.waiters.filter((w) => w.upTo <= this.settled);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.upTo > this.settled);
    for (const w of due) w.cb();
  }

  /** Count dropped lines; `accepted` when they had been queued (they settle a flush too). */
  private drop(lines: number, accepted = false): void {
    this.dropped += lines;
    if (accepted) this.settle(lines);
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

let stdoutOutput: LogOutput | undefined;

/** The process's standard output as a LogOutput (one per process), written out at exit. */
export function stdoutLog(): LogOutput {
  if (stdoutOutput) return stdoutOutput;
  const out = new LogOutput(1);
  process.once('exit', () => out.drainAtExit());
  stdoutOutput = out;
  return out;
}

/** Log lines dropped on standard output so far (0 when nothing logs there). */
export function droppedLogLines(): number {
  return stdoutOutput?.stats().dropped ?? 0;
}

/** How long a stop waits for its last log lines before it exits anyway (a stuck log reader does not hold it). */
const EXIT_LOG_WAIT_MS = 2_000;

/** Exit with `code` once the lines logged so far are written (`flush`: standard output's by default), or after 2 s. */
export function exitOnceLogged(code: number, flush: (cb: () => void) => void = (cb) => stdoutLog().flush(cb)): void {
  setTimeout(() => process.exit(code), EXIT_LOG_WAIT_MS).unref();
  flush(() => process.exit(code));
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
