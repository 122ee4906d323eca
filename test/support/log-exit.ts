/**
 * Child process for test/log-output.test.ts: logs LINES lines through the gateway's logger to
 * standard output (the default LogOutput), then exits in the same tick, as a crash does (or as a
 * stop's time limit does, with a flush still waiting whose callback exits too).
 */
import { createLogger } from '../../src/logging.js';

const lines = Number(process.env.LINES ?? 20_000);
// FLUSH_AT: a flush whose callback exits (as a graceful stop's does) asked for after that many lines.
const flushAt = process.env.FLUSH_AT === undefined ? -1 : Number(process.env.FLUSH_AT);
const logger = createLogger({ level: 'info' });
for (let i = 0; i < lines; i++) {
  if (i === flushAt) logger.flush(() => process.exit(0));
  logger.info({ i, pad: 'x'.repeat(60) }, 'before exit');
}
if (process.env.FATAL) logger.fatal({ i: lines }, 'fatal');
process.exit(0);
