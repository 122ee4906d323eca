/**
 * The shapes field usage is stored and exported in. One export format serves the admin route
 * (`GET /admin/usage`), a file written from it, and `npm run schema:check -- --usage`.
 */

/** A distinct operation: its name and the coordinates it reads (no variable values, no user ids). */
export interface UsageOperation {
  readonly operation: string;
  readonly coordinates: readonly string[];
}

/** Requests of one operation by one client in one time window. */
export interface UsageCount {
  /** Window start, ms since the epoch. */
  readonly window: number;
  /** API client name, or `anonymous`. */
  readonly client: string;
  /** Key of `UsageExport.operations`. */
  readonly id: string;
  readonly count: number;
  /** Last request seen, ms since the epoch. */
  readonly lastSeen: number;
}

/** What the admin route answers and `--usage` reads. */
export interface UsageExport {
  readonly format: typeof USAGE_FORMAT;
  readonly version: 1;
  readonly store: 'memory' | 'redis';
  readonly windowMs: number;
  /** The period covered: [from, to), ms since the epoch. */
  readonly from: number;
  readonly to: number;
  readonly operations: Readonly<Record<string, UsageOperation>>;
  readonly counts: readonly UsageCount[];
}

export const USAGE_FORMAT = 'tributary-field-usage';

/** The client name of a request no API client was identified for. */
export const ANONYMOUS_CLIENT = 'anonymous';

/** Where drained counts go: this process's memory, or Redis shared by every replica. */
export interface UsageSink {
  readonly kind: UsageExport['store'];
  /** Adds counts of one window (and the definitions of their operations). Never throws. */
  add(window: number, counts: readonly Omit<UsageCount, 'window'>[], operations: ReadonlyMap<string, UsageOperation>): void;
  /** Counts of windows starting at or after `since`, with their operations. */
  read(since: number): Promise<{ operations: Record<string, UsageOperation>; counts: UsageCount[] }>;
  /** Sends what is buffered (Redis); memory has nothing to send. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
