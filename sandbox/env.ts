/** Reading sandbox settings from the environment: invalid values throw an Error naming the variable. */

/** An integer in [min, max], or undefined when unset or empty. */
export function envInt(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = /^\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer between ${min} and ${max} (got '${v}')`);
  return n;
}

/** A non-negative number of ms, or undefined when unset or empty. */
export function envMs(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(v) || !Number.isFinite(n)) throw new Error(`${name} must be a non-negative number of ms (got '${v}')`);
  return n;
}
