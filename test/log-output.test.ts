/**
 * The log output (src/logging.ts LogOutput): lines batched per loop turn, a slow reader bounded by
 * dropping (and counting) lines instead of growing memory, a closed output survived.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, LogOutput } from '../src/logging.js';
import { Telemetry } from '../src/connector/index.js';
import { GatewayMetrics } from '../src/observability/index.js';
import { parsePrometheus, sum } from './support/observability.js';
import { startStack } from './support/stack.js';
import { eventually } from './support/wait.js';

const dirs: string[] = [];
const fds: number[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tributary-log-'));
  dirs.push(d);
  return d;
}
function open(path: string, flags: number | string): number {
  const fd = openSync(path, flags);
  fds.push(fd);
  return fd;
}
afterEach(() => {
  for (const fd of fds.splice(0)) {
    try {
      closeSync(fd);
    } catch {
      /* closed by the test */
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const flushed = (out: LogOutput) => new Promise<void>((ok) => out.flush(ok));
const line = (i: number) => `${JSON.stringify({ i, msg: 'x'.repeat(80) })}\n`;

describe('LogOutput', () => {
  it('writes in batches: every line whole and in order, a few writes for a thousand lines, a lone line within the batch delay', async () => {
    const file = join(tempDir(), 'out.log');
    const out = new LogOutput(open(file, 'w'));
    for (let i = 0; i < 1000; i++) out.write(line(i));
    await flushed(out);
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([...Array(1000).keys()]);
    // ~99 KB: one write when the first 32 KB were queued, then the rest (queued meanwhile) in writes of at most 64 KB.
    expect(out.stats()).toEqual({ dropped: 0, pendingLines: 0, pendingChars: 0, writes: 3 });

    // A line alone is not held back for a batch that never fills: it goes out without a flush.
    out.write(line(1000));
    expect(out.stats().pendingLines).toBe(1);
    // (The bytes can reach the file a moment before the write's callback runs: wait for both.)
    await eventually(() => out.stats().pendingLines === 0 && readFileSync(file, 'utf8').split('\n').filter(Boolean).length === 1001, 'the lone line written');
    expect(out.stats()).toMatchObject({ pendingLines: 0, writes: 4 });
  });

  it('holds at most its bound for a reader that does not read, drops and counts the rest, and delivers what it kept once the reader reads', async () => {
    const fifo = join(tempDir(), 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = open(fifo, constants.O_WRONLY); // blocking, as a pipe to a log collector is
    const bound = 200_000;
    const warnings: number[] = [];
    const out = new LogOutput(writer, bound, (n) => warnings.push(n));
    const total = 10_000; // ~1 MB of lines against a 64 KB pipe and a 200 KB bound
    for (let i = 0; i < total; i++) {
      out.write(line(i));
      if (i % 500 === 0) await new Promise((ok) => setImmediate(ok));
    }
    const held = out.stats();
    expect(held.pendingChars).toBeLessThanOrEqual(bound);
    expect(held.dropped).toBeGreaterThan(0);
    expect(held.dropped).toBeLessThan(total);
    // Said once (at most once a minute), with the count at the time.
    expect(warnings).toEqual([1]);

    // The reader catches up: every line not dropped arrives, whole and in order.
    const done = flushed(out);
    let finished = false;
    void done.then(() => (finished = true));
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(1 << 16);
    const drain = () => {
      for (;;) {
        try {
          const n = readSync(reader, buf, 0, buf.length, null);
          if (n <= 0) return;
          chunks.push(Buffer.from(buf.subarray(0, n)));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return;
          throw e;
        }
      }
    };
    while (!finished) {
      drain();
      await new Promise((ok) => setTimeout(ok, 5));
    }
    drain();
    const got = Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i);
    expect(got.length + out.stats().dropped).toBe(total);
    // What was held (queued and being written) stayed within the bound: what arrived is at most the
    // bound plus what the pipe itself held (64 KB).
    expect(got.length * line(0).length).toBeLessThanOrEqual(bound + 65536);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(got[0]).toBe(0);
    expect(out.stats()).toMatchObject({ pendingLines: 0, pendingChars: 0 });
  });

  it('calls a flush back once the lines before it are written, while more keep coming', async () => {
    const fifo = join(tempDir(), 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const out = new LogOutput(open(fifo, constants.O_WRONLY), undefined, () => {});
    let n = 0;
    for (; n < 2000; n++) out.write(line(n)); // ~180 KB against a 64 KB pipe
    let flushedAt: number | undefined;
    out.flush(() => (flushedAt = n));
    const buf = Buffer.alloc(4096);
    let read = 0;
    // A reader slower than the logger: 4 KB per turn while 20 lines (~1.8 KB) are logged per turn,
    // so the queue never empties while this runs.
    for (let turn = 0; turn < 5000 && flushedAt === undefined; turn++) {
      for (let k = 0; k < 20; k++) out.write(line(n++));
      try {
        read += readSync(reader, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
      await new Promise((ok) => setTimeout(ok, 1));
    }
    expect(flushedAt).toBeDefined();
    expect(out.stats().pendingLines).toBeGreaterThan(0); // called back with lines still queued behind it
    expect(read).toBeGreaterThanOrEqual(2000 * line(0).length - 65536); // the 2,000 lines had left for the pipe
  });

  it("writes nothing synchronously on pino's fatal while a write is blocked on a full pipe, and keeps every line in order", async () => {
    const fifo = join(tempDir(), 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const out = new LogOutput(open(fifo, constants.O_WRONLY), undefined, () => {});
    const logger = createLogger({ level: 'info', destination: out });
    for (let i = 0; i < 3000; i++) logger.info({ i, pad: 'x'.repeat(60) }, 'filling'); // ~330 KB against a 64 KB pipe
    // The first write fills the pipe; the next blocks in the thread pool until someone reads.
    await eventually(() => out.stats().writes >= 2, 'a second write under way');
    logger.fatal({ i: 3000 }, 'fatal while blocked'); // a synchronous write here would block this test for good
    const done = flushed(out);
    let finished = false;
    void done.then(() => (finished = true));
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(1 << 16);
    while (!finished || chunks.length === 0) {
      try {
        const n = readSync(reader, buf, 0, buf.length, null);
        if (n > 0) chunks.push(Buffer.from(buf.subarray(0, n)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
      await new Promise((ok) => setTimeout(ok, 2));
    }
    for (;;) {
      try {
        const n = readSync(reader, buf, 0, buf.length, null);
        if (n <= 0) break;
        chunks.push(Buffer.from(buf.subarray(0, n)));
      } catch {
        break;
      }
    }
    const seen = Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i);
    expect(seen).toEqual([...Array(3001).keys()]);
  });

  it.each<[string, Record<string, string>]>([
    ['process.exit', {}],
    ["pino's fatal, then process.exit", { FATAL: '1' }],
    ['process.exit while a flush whose callback exits is still waiting', { FLUSH_AT: '1000' }],
  ])('loses no line when the process ends right after logging (%s)', async (_what, env) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/log-exit.ts'], { env: { ...process.env, LINES: '20000', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    const code = await new Promise<number | null>((ok) => child.on('close', ok));
    expect(code).toBe(0);
    const lines = Buffer.concat(chunks).toString('utf8').split('\n').filter(Boolean);
    const seen = lines.map((l) => (JSON.parse(l) as { i: number }).i); // every line whole
    const want = env.FATAL !== undefined ? 20001 : 20000;
    expect(seen).toHaveLength(want);
    expect(new Set(seen).size).toBe(want);
  });

  it('survives a closed output: lines are counted as dropped, nothing throws, flush still answers', async () => {
    const fifo = join(tempDir(), 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = open(fifo, constants.O_WRONLY);
    closeSync(reader); // nobody reads: writes fail with EPIPE (node ignores SIGPIPE)
    const warnings: number[] = [];
    const out = new LogOutput(writer, undefined, (n) => warnings.push(n));
    const logger = createLogger({ level: 'info', destination: out });
    for (let i = 0; i < 10; i++) logger.info({ i }, 'into a closed pipe');
    await flushed(out);
    for (let i = 0; i < 5; i++) logger.info({ i }, 'after it closed');
    await flushed(out);
    expect(out.stats()).toMatchObject({ dropped: 15, pendingLines: 0 });
    expect(warnings).toEqual([10]);
  });

  it('is counted in /metrics as tributary_log_lines_dropped_total', async () => {
    const s = await startStack({ env: { CACHE: 'off' } });
    try {
      const fromGateway = parsePrometheus(await (await fetch(`${s.url}/metrics`)).text());
      // The test stack logs to memory, not standard output: nothing dropped there.
      expect(sum(fromGateway, 'tributary_log_lines_dropped_total')).toBe(0);
      const out = new LogOutput(open(join(tempDir(), 'x.log'), 'w'), 100, () => {});
      for (let i = 0; i < 5; i++) out.write(line(i)); // 90 characters each: the second and later are over 100
      const metrics = new GatewayMetrics({ telemetry: new Telemetry(), connector: s.gateway.connector, logLinesDropped: () => out.stats().dropped });
      expect(sum(parsePrometheus(await metrics.text()), 'tributary_log_lines_dropped_total')).toBe(4);
      metrics.close();
      await flushed(out);
    } finally {
      await s.close();
    }
  });
});
