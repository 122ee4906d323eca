/**
 * @internal One piece of work shared by callers with different lifetimes: an upstream call shared by
 * concurrent requests (cross-request coalescing), or an OAuth2 token fetch shared by calls (a
 * background flight: it bounds itself, and the next caller may still want its token).
 *
 * The work belongs to the flight, not to the caller that started it:
 * - it runs on the flight's own cancellation token, aborted only when every caller has gone (a reference
 *   count; a background flight holds a reference of its own and is never abandoned);
 * - it runs under the flight's own deadline, the latest of its callers' (it only moves later);
 * - each caller races its own deadline and abort signal, and gets its own error (timeout, cancelled)
 *   without affecting the others.
 *
 * Written by hand: dataloader and p-memoize share a promise but not its cancellation, and cockatiel has
 * no policy for one call with several callers.
 */

import { Cancel } from './cancel.js';

export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** The errors a caller gets when it leaves on its own (built only when it does). */
export interface LeaveErrors {
  readonly timeout: () => unknown;
  readonly cancelled: () => unknown;
}

export interface FlightOptions {
  /** performance.now() by which the work must be over (Infinity: the work bounds itself). */
  readonly deadline: number;
  /** A background flight (a refresh no request waits for) is never abandoned by its callers. */
  readonly background?: boolean;
  /** Called once, when the flight can no longer be joined: it settled, or every caller left. */
  readonly onEnd?: () => void;
}

interface Waiter<T> {
  readonly deadline: number;
  timer: NodeJS.Timeout | undefined;
  /** Settle this caller; `left`: on its own (its deadline or signal), so it gives up its reference. */
  end(outcome: Outcome<T>, left: boolean): void;
  readonly errors: LeaveErrors;
}

export class Flight<T> {
  /** The shared call's own token: every attempt of the call listens to it. */
  private readonly controller = new Cancel();
  private readonly waiters = new Set<Waiter<T>>();
  private readonly background: boolean;
  private readonly onEnd: (() => void) | undefined;
  private latest: number;
  private refs = 0;
  private outcome: Outcome<T> | undefined;
  private ended = false;

  constructor(opts: FlightOptions) {
    this.latest = opts.deadline;
    this.background = opts.background ?? false;
    this.onEnd = opts.onEnd;
  }

  /** The work's token: aborted when every caller has gone. */
  get signal(): Cancel {
    return this.controller;
  }

  /** performance.now() by which the work must be over: the latest deadline of any caller so far. */
  get deadline(): number {
    return this.latest;
  }

  /** Start the work (once). Its outcome goes to every caller still waiting. */
  run(work: (flight: Flight<T>) => Promise<T>): this {
    let p: Promise<T>;
    try {
      p = work(this);
    } catch (error) {
      p = Promise.reject(error);
    }
    p.then(
      (value) => this.settle({ ok: true, value }),
      (error: unknown) => this.settle({ ok: false, error }),
    );
    return this;
  }

  /**
   * Wait for the work as one more caller, until its own `deadline` (performance.now()) or `signal`.
   * Resolves to the work's outcome, or to the caller's own timeout or cancellation; never rejects.
   */
  join(deadline: number, signal: Cancel | undefined, errors: LeaveErrors): Promise<Outcome<T>> {
    if (this.outcome) return Promise.resolve(this.outcome);
    if (signal?.aborted || deadline <= performance.now()) {
      // Gone before it joined: it never counts, and work that no one else waits for is stopped.
      this.refs++;
      this.release();
      return Promise.resolve({ ok: false, error: signal?.aborted ? errors.cancelled() : errors.timeout() });
    }
    this.refs++;
    return new Promise<Outcome<T>>((resolve) => {
      let done = false;
      const onAbort = (): void => w.end({ ok: false, error: errors.cancelled() }, true);
      const w: Waiter<T> = {
        deadline,
        timer: undefined,
        errors,
        end: (outcome, left) => {
          if (done) return;
          done = true;
          clearTimeout(w.timer);
          signal?.off(onAbort);
          this.waiters.delete(w);
          resolve(outcome);
          if (left) this.release();
        },
      };
      this.waiters.add(w);
      signal?.on(onAbort);
      if (deadline > this.latest) {
        // A caller with more time: the work may run longer, so callers with less now need timers.
        this.latest = deadline;
        for (const other of this.waiters) this.arm(other);
      } else {
        this.arm(w);
      }
    });
  }

  /**
   * A caller whose deadline is the flight's needs no timer of its own: the work ends by then (the
   * executor enforces the deadline it is given). Only callers with less time than the flight race one.
   */
  private arm(w: Waiter<T>): void {
    if (w.timer !== undefined || !(w.deadline < this.latest)) return;
    w.timer = setTimeout(() => w.end({ ok: false, error: w.errors.timeout() }, true), Math.max(0, w.deadline - performance.now()));
  }

  private release(): void {
    if (--this.refs > 0 || this.background || this.ended) return;
    // Nobody wants the answer any more: stop the work, and let the next caller start afresh.
    this.end();
    this.controller.abort();
  }

  private settle(outcome: Outcome<T>): void {
    this.outcome = outcome;
    this.end();
    for (const w of this.waiters) w.end(outcome, false);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd?.();
  }
}
