/**
 * Child process for test/log-output.test.ts: logs LINES lines through the gateway's logger to
 * standard output (the default LogOutput), then exits in the same tick, as a crash does.
 */
import { createLogger } from '../../src/logging.js';

const lines = Number(process.env.LINES ?? 20_000);
const logger = createLogger({ level: 'info' });
for (let i = 0; i < lines; i++) logger.info({ i, pad: 'x'.repeat(60) }, 'before exit');
if (process.env.FATAL) logger.fatal({ i: lines }, 'fatal');
process.exit(0);
