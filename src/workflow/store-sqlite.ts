/**
 * The embedded log: one SQLite file (better-sqlite3, WAL mode) under a configurable directory, needing no
 * set-up. Several processes may share the file (SQLite serialises writers; `busy_timeout` makes a writer
 * wait for the lock instead of failing). Replicas with separate files share nothing: client keys are then
 * claimed in Redis (redis-claims.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { WorkflowLeaseLostError } from './errors.js';
import {
  ACTIVE,
  checkPrefix,
  patchColumns,
  toInstance,
  toStep,
  type InstancePatch,
  type RawInstance,
  type RawStep,
  type StepWrite,
  type WorkflowStore,
} from './store.js';

export interface SqliteStoreOptions {
  /** Directory of the file; created when missing. */
  readonly directory: string;
  /** File name inside it. Default `workflows.sqlite`. */
  readonly file?: string;
  /** Table prefix. Default `tributary_`. */
  readonly prefix?: string;
}

const DEFAULTS = {
  file: 'workflows.sqlite',
  prefix: 'tributary_',
  busyTimeoutMs: 5_000, // a writer waits this long for another process's write lock
} as const;

/**
 * Opens (and creates) the embedded workflow log.
 *
 * @example
 * const store = sqliteWorkflowStore({ directory: 'data/workflows' });
 * await store.init();
 */
export function sqliteWorkflowStore(options: SqliteStoreOptions): WorkflowStore {
  const prefix = checkPrefix(options.prefix ?? DEFAULTS.prefix);
  mkdirSync(options.directory, { recursive: true });
  const db = new Database(join(options.directory, options.file ?? DEFAULTS.file));
  db.pragma('journal_mode = WAL');
  db.pragma(`busy_timeout = ${DEFAULTS.busyTimeoutMs}`);
  // NORMAL is durable across a process crash in WAL mode (only a power loss may drop the last commits).
  db.pragma('synchronous = NORMAL');
  const I = `${prefix}workflow_instances`;
  const S = `${prefix}workflow_steps`;
  const active = ACTIVE.map((s) => `'${s}'`).join(',');

  db.exec(`
    CREATE TABLE IF NOT EXISTS ${I} (
      id TEXT PRIMARY KEY, workflow TEXT NOT NULL, user_id TEXT NOT NULL, client_key TEXT,
      input_hash TEXT NOT NULL, input TEXT NOT NULL, status TEXT NOT NULL, outcome TEXT,
      owner TEXT, lease_until INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, last_error TEXT,
      created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
      UNIQUE (user_id, client_key));
    CREATE INDEX IF NOT EXISTS ${I}_active ON ${I} (status, lease_until);
    CREATE TABLE IF NOT EXISTS ${S} (
      instance_id TEXT NOT NULL REFERENCES ${I}(id) ON DELETE CASCADE, step TEXT NOT NULL, kind TEXT NOT NULL,
      state TEXT NOT NULL, input TEXT, output TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL,
      PRIMARY KEY (instance_id, step, kind));`);
  db.pragma('foreign_keys = ON');

  const q = {
    insert: db.prepare(`INSERT INTO ${I} (id, workflow, user_id, client_key, input_hash, input, status, owner, lease_until, attempts, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, 1, ?, ?) ON CONFLICT (user_id, client_key) DO NOTHING`),
    byKey: db.prepare(`SELECT * FROM ${I} WHERE user_id = ? AND client_key = ?`),
    get: db.prepare(`SELECT * FROM ${I} WHERE id = ?`),
    steps: db.prepare(`SELECT * FROM ${S} WHERE instance_id = ? ORDER BY rowid`),
    fence: db.prepare(`UPDATE ${I} SET updated_at = ? WHERE id = ? AND owner = ?`),
    step: db.prepare(`INSERT INTO ${S} (instance_id, step, kind, state, input, output, error, attempts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (instance_id, step, kind) DO UPDATE SET state = excluded.state, input = COALESCE(excluded.input, input),
      output = excluded.output, error = excluded.error,
      attempts = attempts + excluded.attempts, updated_at = excluded.updated_at`),
    claim: db.prepare(`UPDATE ${I} SET owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
      WHERE id IN (SELECT id FROM ${I} WHERE status IN (${active}) AND (lease_until < ? OR owner = ?) ORDER BY lease_until LIMIT ?) RETURNING *`),
    purge: db.prepare(`DELETE FROM ${I} WHERE status NOT IN (${active}) AND created_at < ?`),
  };

  const fenced = (id: string, owner: string, now: number) => {
    if (q.fence.run(now, id, owner).changes === 0) throw new WorkflowLeaseLostError(id);
  };
  const patchInstance = (id: string, owner: string, patch: InstancePatch, now: number) => {
    const cols = patchColumns(patch);
    const sets = [...cols.map(([c]) => `${c} = ?`), 'updated_at = ?'].join(', ');
    const res = db.prepare(`UPDATE ${I} SET ${sets} WHERE id = ? AND owner = ?`).run(...(cols.map(([, v]) => v) as (string | number | null)[]), now, id, owner);
    if (res.changes === 0) throw new WorkflowLeaseLostError(id);
  };
  const recordTx = db.transaction(
    (id: string, owner: string, steps: readonly StepWrite[], now: number, patch: InstancePatch | undefined) => {
      fenced(id, owner, now);
      for (const s of steps) {
        const output = s.output === undefined ? null : JSON.stringify(s.output);
        const error = s.error === undefined ? null : JSON.stringify(s.error);
        const input = s.input === undefined ? null : JSON.stringify(s.input);
        q.step.run(id, s.step, s.kind, s.state, input, output, error, s.state === 'started' ? 1 : 0, now);
      }
      if (patch) patchInstance(id, owner, patch, now);
    },
  );

  return {
    kind: 'sqlite',
    async init() {
      // The schema is created when the file is opened (synchronously); nothing left to do.
    },
    async create(row) {
      const tx = db.transaction(() => {
        const inserted = q.insert.run(row.id, row.workflow, row.userId, row.clientKey, row.inputHash, JSON.stringify(row.input ?? null), row.owner, row.leaseUntil, row.now, row.now);
        if (inserted.changes === 1) return { created: true, row: toInstance(q.get.get(row.id) as RawInstance) };
        return { created: false, row: toInstance(q.byKey.get(row.userId, row.clientKey) as RawInstance) };
      });
      return tx.immediate();
    },
    async get(id) {
      const r = q.get.get(id) as RawInstance | undefined;
      return r && toInstance(r);
    },
    async byClientKey(userId, clientKey) {
      const r = q.byKey.get(userId, clientKey) as RawInstance | undefined;
      return r && toInstance(r);
    },
    async steps(id) {
      return (q.steps.all(id) as RawStep[]).map(toStep);
    },
    async record(id, owner, steps, now, patch) {
      recordTx.immediate(id, owner, steps, now, patch);
    },
    async update(id, owner, patch, now) {
      patchInstance(id, owner, patch, now);
    },
    async renew(owner, ids, leaseUntil) {
      if (ids.length === 0) return 0;
      const sql = `UPDATE ${I} SET lease_until = ? WHERE owner = ? AND status IN (${active}) AND id IN (${ids.map(() => '?').join(',')})`;
      return db.prepare(sql).run(leaseUntil, owner, ...ids).changes;
    },
    async claimExpired(owner, leaseUntil, now, limit, adopt = false) {
      // `owner = NULL` is never true: without `adopt`, only expired leases are taken.
      return (q.claim.all(owner, leaseUntil, now, now, adopt ? owner : null, limit) as RawInstance[]).map(toInstance);
    },
    async list(filter) {
      const where: string[] = [];
      const args: unknown[] = [];
      if (filter.statuses?.length) {
        where.push(`status IN (${filter.statuses.map(() => '?').join(',')})`);
        args.push(...filter.statuses);
      }
      if (filter.stuckAt !== undefined) {
        where.push(`status IN (${active}) AND (lease_until < ? OR owner IS NULL)`);
        args.push(filter.stuckAt);
      }
      if (filter.workflow !== undefined) {
        where.push('workflow = ?');
        args.push(filter.workflow);
      }
      const sql = `SELECT * FROM ${I}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC LIMIT ?`;
      return (db.prepare(sql).all(...args, filter.limit ?? 100) as RawInstance[]).map(toInstance);
    },
    async purge(before) {
      return q.purge.run(before).changes;
    },
    async close() {
      db.close();
    },
  };
}
