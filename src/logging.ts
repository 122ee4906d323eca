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

export function createLogger(opts: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: 'tributary' },
      redact: {
        paths: ['authorization', '*.authorization', 'headers.authorization', '*.headers.authorization', '*.headers["x-api-key"]', 'headers["x-api-key"]', 'password', '*.password', 'token', '*.token', 'secret', '*.secret'],
        censor: '[redacted]',
      },
    },
    opts.destination ?? bufferedStdout(),
  );
}
