/**
 * The shared log on PostgreSQL (`pg` 8): every replica uses the same tables, so a client key is claimed
 * once by a unique constraint, and an instance whose owner died is claimed by another replica with
 * `FOR UPDATE SKIP LOCKED` (two replicas never take the same one).
 */
import pg from 'pg';
import { WorkflowLeaseLostError } from './errors.js';
import {
  ACTIVE,
  checkPrefix,
  patchColumns,
  toInstance,
  toStep,
  type RawInstance,
  type RawStep,
  type WorkflowStore,
} from './store.js';

export interface PostgresStoreOptions {
  readonly connectionString: string;
  /** Table prefix. Default `tributary_`. */
  readonly prefix?: string;
  /** Pool size. Default 10. */
  readonly maxConnections?: number;
}

const DEFAULTS = {
  prefix: 'tributary_',
  maxConnections: 10, // per process
  connectionTimeoutMs: 5_000, // waiting for a connection from the pool or the server
} as const;

/**
 * Opens the PostgreSQL workflow log; `init()` creates its tables.
 *
 * @example
 * const store = postgresWorkflowStore({ connectionString: process.env.DATABASE_URL! });
 * await store.init();
 */
export function postgresWorkflowStore(options: PostgresStoreOptions): WorkflowStore {
  const prefix = checkPrefix(options.prefix ?? DEFAULTS.prefix);
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? DEFAULTS.maxConnections,
    connectionTimeoutMillis: DEFAULTS.connectionTimeoutMs,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const I = `${prefix}workflow_instances`;
  const S = `${prefix}workflow_steps`;
  const active = ACTIVE.map((s) => `'${s}'`).join(',');

  async function tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      c.release();
    }
  }

  return {
    kind: 'postgres',
    async init() {
      // Two processes starting at once may both try to create the tables: serialise on an advisory lock.
      await tx(async (c) => {
        await c.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [I]);
        await c.query(`
          CREATE TABLE IF NOT EXISTS ${I} (
            id TEXT PRIMARY KEY, workflow TEXT NOT NULL, user_id TEXT NOT NULL, client_key TEXT,
            input_hash TEXT NOT NULL, input TEXT NOT NULL, status TEXT NOT NULL, outcome TEXT,
            owner TEXT, lease_until BIGINT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, last_error TEXT,
            created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
            UNIQUE (user_id, client_key));
          CREATE INDEX IF NOT EXISTS ${I}_active ON ${I} (status, lease_until);
          CREATE TABLE IF NOT EXISTS ${S} (
            instance_id TEXT NOT NULL REFERENCES ${I}(id) ON DELETE CASCADE, step TEXT NOT NULL, kind TEXT NOT NULL,
            state TEXT NOT NULL, input TEXT, output TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, updated_at BIGINT NOT NULL,
            seq BIGSERIAL, PRIMARY KEY (instance_id, step, kind));`);
      });
    },
    async create(row) {
      const inserted = await pool.query<RawInstance>(
        `INSERT INTO ${I} (id, workflow, user_id, client_key, input_hash, input, status, owner, lease_until, attempts, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, 1, $9, $9) ON CONFLICT (user_id, client_key) DO NOTHING RETURNING *`,
        [row.id, row.workflow, row.userId, row.clientKey, row.inputHash, JSON.stringify(row.input ?? null), row.owner, row.leaseUntil, row.now],
      );
      if (inserted.rows[0]) return { created: true, row: toInstance(inserted.rows[0]) };
      // The conflicting row is committed (ON CONFLICT waits for a concurrent inserter), so it is visible now.
      const existing = await pool.query<RawInstance>(`SELECT * FROM ${I} WHERE user_id = $1 AND client_key = $2`, [row.userId, row.clientKey]);
      return { created: false, row: toInstance(existing.rows[0]!) };
    },
    async get(id) {
      const r = await pool.query<RawInstance>(`SELECT * FROM ${I} WHERE id = $1`, [id]);
      return r.rows[0] && toInstance(r.rows[0]);
    },
    async byClientKey(userId, clientKey) {
      const r = await pool.query<RawInstance>(`SELECT * FROM ${I} WHERE user_id = $1 AND client_key = $2`, [userId, clientKey]);
      return r.rows[0] && toInstance(r.rows[0]);
    },
    async steps(id) {
      const r = await pool.query<RawStep>(`SELECT * FROM ${S} WHERE instance_id = $1 ORDER BY seq`, [id]);
      return r.rows.map(toStep);
    },
    async record(id, owner, steps, now, patch) {
      const args: unknown[] = [id, owner, now];
      const arg = (v: unknown) => `$${args.push(v)}`;
      const sets = ['updated_at = $3', ...patchColumns(patch ?? {}).map(([c, v]) => `${c} = ${arg(v)}`)].join(', ');
      if (steps.length === 0) {
        const r = await pool.query(`UPDATE ${I} SET ${sets} WHERE id = $1 AND owner = $2`, args);
        if (r.rowCount === 0) throw new WorkflowLeaseLostError(id);
        return;
      }
      const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
      const rows = steps
        .map((s) => `(${arg(s.step)}::text, ${arg(s.kind)}::text, ${arg(s.state)}::text, ${arg(json(s.output))}::text, ${arg(json(s.error))}::text, ${arg(s.state === 'started' ? 1 : 0)}::int, ${arg(json(s.input))}::text)`)
        .join(', ');
      // The fence (and the patch) and the writes in one statement: the steps are written only while `owner` holds the instance.
      const r = await pool.query(
        `WITH fence AS (UPDATE ${I} SET ${sets} WHERE id = $1 AND owner = $2 RETURNING id)
         INSERT INTO ${S} (instance_id, step, kind, state, output, error, attempts, updated_at, input)
         SELECT fence.id, v.step, v.kind, v.state, v.output, v.error, v.attempts, $3, v.input
         FROM fence CROSS JOIN (VALUES ${rows}) AS v (step, kind, state, output, error, attempts, input)
         ON CONFLICT (instance_id, step, kind) DO UPDATE SET state = excluded.state, output = excluded.output,
           input = COALESCE(excluded.input, ${S}.input),
           error = excluded.error, attempts = ${S}.attempts + excluded.attempts, updated_at = excluded.updated_at`,
        args,
      );
      if (r.rowCount === 0) throw new WorkflowLeaseLostError(id);
    },
    async update(id, owner, patch, now) {
      const cols = patchColumns(patch);
      const sets = [...cols.map(([c], i) => `${c} = $${i + 1}`), `updated_at = $${cols.length + 1}`].join(', ');
      const n = cols.length + 1;
      const r = await pool.query(`UPDATE ${I} SET ${sets} WHERE id = $${n + 1} AND owner = $${n + 2}`, [...cols.map(([, v]) => v), now, id, owner]);
      if (r.rowCount === 0) throw new WorkflowLeaseLostError(id);
    },
    async renew(owner, ids, leaseUntil) {
      if (ids.length === 0) return 0;
      const r = await pool.query(`UPDATE ${I} SET lease_until = $1 WHERE owner = $2 AND status IN (${active}) AND id = ANY($3::text[])`, [leaseUntil, owner, ids]);
      return r.rowCount ?? 0;
    },
    async claimExpired(owner, leaseUntil, now, limit, adopt = false) {
      // `owner = NULL` is never true: without `adopt`, only expired leases are taken.
      const r = await pool.query<RawInstance>(
        `UPDATE ${I} SET owner = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3
         WHERE id IN (SELECT id FROM ${I} WHERE status IN (${active}) AND (lease_until < $3 OR owner = $5)
           ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED)
         RETURNING *`,
        [owner, leaseUntil, now, limit, adopt ? owner : null],
      );
      return r.rows.map(toInstance);
    },
    async list(filter) {
      const where: string[] = [];
      const args: unknown[] = [];
      const arg = (v: unknown) => `$${args.push(v)}`;
      if (filter.statuses?.length) where.push(`status IN (${filter.statuses.map((s) => arg(s)).join(',')})`);
      if (filter.stuckAt !== undefined) where.push(`status IN (${active}) AND (lease_until < ${arg(filter.stuckAt)} OR owner IS NULL)`);
      if (filter.workflow !== undefined) where.push(`workflow = ${arg(filter.workflow)}`);
      const sql = `SELECT * FROM ${I}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC LIMIT ${arg(filter.limit ?? 100)}`;
      return (await pool.query<RawInstance>(sql, args)).rows.map(toInstance);
    },
    async purge(before) {
      const r = await pool.query(`DELETE FROM ${I} WHERE status NOT IN (${active}) AND created_at < $1`, [before]);
      return r.rowCount ?? 0;
    },
    async close() {
      await pool.end();
    },
  };
}

/** Drops the log's tables (tests use a prefix per run and drop it after). */
export async function dropPostgresWorkflowTables(connectionString: string, prefix: string): Promise<void> {
  const p = checkPrefix(prefix);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS ${p}workflow_steps, ${p}workflow_instances`);
  } finally {
    await client.end();
  }
}
