/**
 * The keys of the engine: the idempotency key each call carries, derived from the instance and the step
 * so a re-driven call (after a timeout, a crash, on another replica) is the same call to the upstream;
 * the canonical hash of a client's input, so "same key, same input" survives key order and restarts.
 */
import { createHash } from 'node:crypto';
import { configure } from 'safe-stable-stringify';

// Sorted keys, no circular placeholders or bigint surprises: the hash must mean "the same JSON value".
const canonical = configure({ deterministic: true, circularValue: TypeError, bigint: false });

/** The idempotency key of a step's call, or of its compensation. Deterministic: the same on every re-drive. */
export function stepKey(instanceId: string, step: string, kind: 'forward' | 'compensate'): string {
  return kind === 'forward' ? `${instanceId}:${step}` : `${instanceId}:${step}:compensate`;
}

/** sha256 (hex) of the canonical JSON of `{ workflow, input }`: what a client's key is bound to. */
export function inputHash(workflow: string, input: unknown): string {
  return createHash('sha256').update(canonical({ workflow, input }) ?? 'undefined').digest('hex');
}

/** A short hash of a key for telemetry: traces show which key was sent without showing the key. */
export function keyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** JSON text of a value as stored in the log (undefined is stored as null). */
export function toJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}
