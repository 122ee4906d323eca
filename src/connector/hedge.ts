/**
 * Hedged attempts: if the first attempt of a call has not answered after the hedge delay, a second
 * starts; the first success wins and the other is aborted. A failure waits for the other attempt.
 * Written by hand: cockatiel has no hedging policy, and a hedge must spend the upstream's retry budget.
 */
import { Cancel } from './cancel.js';
import { CancelledError } from './breaker.js';
import type { Telemetry } from './events.js';
import type { CallOptions, CallResult, NOT_FOUND } from './executor.js';
import type { RetryBudget } from './retry-budget.js';

/** What a hedge needs of its executor. */
export interface HedgeHost {
  readonly upstream: string;
  readonly telemetry: Telemetry;
  readonly budget: RetryBudget;
  /** One attempt under the breaker and bulkhead, on the given token. */
  guarded(o: CallOptions, attempt: number, hedge: boolean, owner: Cancel | undefined): Promise<CallResult | typeof NOT_FOUND>;
}

/** Run attempt `attempt` of a call, hedged after `delay` ms. */
export function hedged(host: HedgeHost, o: CallOptions, attempt: number, delay: number): Promise<CallResult | typeof NOT_FOUND> {
  return new Promise((resolve, reject) => {
    const controllers: Cancel[] = [];
    let pending = 0;
    let settled = false;
    let hedgeTimer: NodeJS.Timeout | undefined;
    let firstError: unknown;
    const onClientAbort = () => controllers.forEach((c) => c.abort());
    o.signal?.on(onClientAbort);
    const finish = () => {
      settled = true;
      clearTimeout(hedgeTimer);
      o.signal?.off(onClientAbort);
      controllers.forEach((c) => c.abort()); // the loser, if any, is aborted
    };
    const launch = (hedge: boolean) => {
      const ac = new Cancel();
      controllers.push(ac);
      pending++;
      // A settled attempt leaves the list: only attempts still in flight are aborted.
      const done = () => controllers.splice(controllers.indexOf(ac), 1);
      host.guarded(o, attempt, hedge, ac).then(
        (v) => {
          done();
          if (settled) return;
          finish();
          resolve(v);
        },
        (e: unknown) => {
          done();
          pending--;
          if (settled) return;
          if (firstError === undefined || firstError instanceof CancelledError) firstError = e;
          // Keep waiting while the other attempt may still answer; with none left, fail now
          // (a failure before the hedge delay is the retry loop's business, not the hedge's).
          if (pending === 0) {
            finish();
            reject(firstError);
          }
        },
      );
    };
    launch(false);
    const hedgeNow = () => {
      if (settled) return;
      if (pending === 0) {
        finish();
        reject(firstError);
        return;
      }
      if (!host.budget.tryRetry()) {
        // No budget for a hedge: the first attempt carries on alone.
        host.telemetry.emit('retryBudgetExhausted', { upstream: host.upstream, endpoint: o.endpoint });
        return;
      }
      host.telemetry.emit('hedge', { upstream: host.upstream, endpoint: o.endpoint, attempt, delayMs: delay });
      launch(true);
    };
    hedgeTimer = setTimeout(() => {
      hedgeTimer = undefined;
      // Timers run before the event loop reads its sockets. When this process was busy past the
      // delay, the first attempt's answer may already be waiting there: read it first (setImmediate
      // runs after the sockets are read), and hedge only a call still unanswered then. Under load,
      // a second request would otherwise be sent for an answer that had arrived.
      if (!settled) setImmediate(hedgeNow);
    }, delay);
  });
}
