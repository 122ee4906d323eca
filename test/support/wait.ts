/**
 * Waiting for a state in tests: what a test waits for is a condition (a request arrived, an entry was
 * stored, a replica connected), never a duration.
 */

/**
 * Resolves once `done()` holds, polling every few ms; rejects naming `what` (or the condition's
 * source) if it does not hold within `withinMs`.
 */
export async function eventually(done: () => boolean | Promise<boolean>, what?: string, withinMs = 15_000): Promise<void> {
  const giveUp = Date.now() + withinMs;
  while (!(await done())) {
    if (Date.now() > giveUp) throw new Error(`still not true after ${withinMs} ms: ${what ?? String(done)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
