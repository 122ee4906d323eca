/**
 * Recent latencies of one upstream, for adaptive hedging: a ring of the last 256 successful attempt
 * durations; the percentile is recomputed every 32 samples, so a read costs O(1).
 *
 * @example
 * const w = new LatencyWindow();
 * w.add(12.5);
 * const p95 = w.percentile(0.95); // undefined until enough samples
 */
const SIZE = 256;
const RECOMPUTE_EVERY = 32;
const MIN_SAMPLES = 20;

export class LatencyWindow {
  private readonly samples = new Float64Array(SIZE);
  private count = 0;
  private next = 0;
  private sinceCompute = 0;
  private readonly cached = new Map<number, number>();

  add(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % SIZE;
    if (this.count < SIZE) this.count++;
    if (++this.sinceCompute >= RECOMPUTE_EVERY) {
      this.sinceCompute = 0;
      this.cached.clear();
    }
  }

  percentile(p: number): number | undefined {
    if (this.count < MIN_SAMPLES) return undefined;
    let v = this.cached.get(p);
    if (v === undefined) {
      const sorted = Array.from(this.samples.subarray(0, this.count)).sort((a, b) => a - b);
      v = sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
      this.cached.set(p, v);
    }
    return v;
  }
}
