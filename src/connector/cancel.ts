/**
 * @internal The connector's cancellation token: what an attempt's timeout, a lost hedge, a shared
 * call's last caller leaving, or the client going away use to stop work inside the engine.
 *
 * Not an AbortController, on purpose. A GraphQL request makes several upstream calls, and each attempt
 * needs a token of its own, a listener on its request's token, and one from the transport. Node's
 * AbortController costs an EventTarget, an AbortSignal made on first use, a listener record per
 * `addEventListener`, and a DOMException with a stack trace on every abort: about 4 % of a
 * request's CPU on the CategoryPage benchmark. A token here is one object and an array of callbacks.
 * AbortSignals remain at the boundary: a request scope's signal is followed by one listener.
 */
export class Cancel {
  private done = false;
  private listeners: (() => void)[] | null = null;

  /** A token aborted when `signal` aborts (at once if it already has); none for no signal. */
  static follow(signal: AbortSignal | Cancel | undefined): Cancel | undefined {
    if (signal === undefined || signal instanceof Cancel) return signal;
    const c = new Cancel();
    if (signal.aborted) c.abort();
    else signal.addEventListener('abort', () => c.abort(), { once: true });
    return c;
  }

  get aborted(): boolean {
    return this.done;
  }

  /** Call `fn` once when this token aborts. Not called if it already has: check `aborted` first. */
  on(fn: () => void): void {
    if (this.done) return;
    (this.listeners ??= []).push(fn);
  }

  /** Forget a callback given to `on` (the work it would stop is over). */
  off(fn: () => void): void {
    const l = this.listeners;
    if (!l) return;
    const i = l.lastIndexOf(fn);
    if (i >= 0) l.splice(i, 1);
  }

  /**
   * Abort (once): every callback runs, in the order given. The caller (a timer, a socket's close
   * handler, a hedge settling) always carries on: an error from a callback does not stop the others
   * and is not thrown here; it is raised on its own afterwards, as an AbortController's listener
   * errors are.
   */
  abort(): void {
    if (this.done) return;
    this.done = true;
    const l = this.listeners;
    this.listeners = null;
    if (!l) return;
    for (const fn of l) {
      try {
        fn();
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** Wait `ms`, or reject with `reason()` as soon as `cancel` aborts (a retry's backoff). */
export function delay(ms: number, cancel: Cancel | undefined, reason: () => unknown): Promise<void> {
  if (cancel?.aborted) return Promise.reject(reason());
  return new Promise((resolve, reject) => {
    const onCancel = (): void => {
      clearTimeout(timer);
      reject(reason());
    };
    const timer = setTimeout(() => {
      cancel?.off(onCancel);
      resolve();
    }, ms);
    cancel?.on(onCancel);
  });
}
