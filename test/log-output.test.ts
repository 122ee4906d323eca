/**
 * The log output (src/logging.ts LogOutput): lines batched per loop turn, a slow reader bounded by
 * dropping (and counting) lines instead of growing memory, a closed output survived.
 */
import { spawnSync } from 'node:child_process';
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
    // ~90 KB: one write when the first 32 KB were queued, one for the rest (queued meanwhile).
    expect(out.stats()).toEqual({ dropped: 0, pendingLines: 0, pendingChars: 0, writes: 2 });

    // A line alone is not held back for a batch that never fills: it goes out without a flush.
    out.write(line(1000));
    expect(out.stats().pendingLines).toBe(1);
    await eventually(() => readFileSync(file, 'utf8').split('\n').filter(Boolean).length === 1001, 'the lone line written');
    expect(out.stats()).toMatchObject({ pendingLines: 0, writes: 3 });
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
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(got[0]).toBe(0);
    expect(out.stats()).toMatchObject({ pendingLines: 0, pendingChars: 0 });
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
