/**
 * A retry budget per upstream: retries may add at most `ratio` of the first attempts seen in the
 * last `windowMs`, with a floor of `minPerWindow`, so that retries can never multiply an outage.
 * Hand-written because cockatiel has no budget; the window is ten buckets, so it costs O(1) per call.
 *
 * @example
 * const budget = new RetryBudget({ ratio: 0.2, minPerWindow: 10, windowMs: 10_000 });
 * budget.recordFirst();
 * if (budget.tryRetry()) retry();
 */
import { POLICY_DEFAULTS } from './define.js';

const BUCKETS = 10;

export interface RetryBudgetOptions {
  readonly ratio: number;
  readonly minPerWindow: number;
  readonly windowMs: number;
  readonly now?: () => number;
}

export class RetryBudget {
  private readonly firsts = new Array<number>(BUCKETS).fill(0);
  private readonly retries = new Array<number>(BUCKETS).fill(0);
  private bucket = 0;
  private bucketStart: number;
  private readonly bucketMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: RetryBudgetOptions = POLICY_DEFAULTS.retryBudget) {
    this.now = opts.now ?? (() => performance.now());
    this.bucketMs = opts.windowMs / BUCKETS;
    this.bucketStart = this.now();
  }

  recordFirst(): void {
    this.rotate();
    this.firsts[this.bucket]!++;
  }

  /** Take one retry from the budget; false when it is spent. */
  tryRetry(): boolean {
    this.rotate();
    let f = 0;
    let r = 0;
    for (let i = 0; i < BUCKETS; i++) {
      f += this.firsts[i]!;
      r += this.retries[i]!;
    }
    if (r >= Math.max(this.opts.minPerWindow, f * this.opts.ratio)) return false;
    this.retries[this.bucket]!++;
    return true;
  }

  private rotate(): void {
    const now = this.now();
    let steps = Math.floor((now - this.bucketStart) / this.bucketMs);
    if (steps <= 0) return;
    if (steps > BUCKETS) steps = BUCKETS;
    for (let i = 0; i < steps; i++) {
      this.bucket = (this.bucket + 1) % BUCKETS;
      this.firsts[this.bucket] = 0;
      this.retries[this.bucket] = 0;
    }
    this.bucketStart = now - ((now - this.bucketStart) % this.bucketMs);
  }
}
