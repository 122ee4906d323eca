/**
 * pino logger. Credentials never reach it by construction (the engine logs no headers and no
 * secrets); the redact list is a second line of defence for anything that looks like one.
 */
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

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
    opts.destination,
  );
}
