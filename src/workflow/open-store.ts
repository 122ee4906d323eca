/**
 * Chooses the workflow log: PostgreSQL when a database URL is given (shared by every replica), the
 * embedded SQLite file otherwise (no set-up; one file per replica unless they share a directory).
 */
import { postgresWorkflowStore } from './store-postgres.js';
import { sqliteWorkflowStore } from './store-sqlite.js';
import type { WorkflowStore } from './store.js';

export interface OpenStoreOptions {
  /** `DATABASE_URL`: when set, the log is on PostgreSQL. */
  readonly databaseUrl?: string | undefined;
  /** Directory of the embedded file when there is no database URL. */
  readonly directory: string;
  /** Table prefix in either store. Default `tributary_`. */
  readonly prefix?: string;
}

/**
 * Opens the log the options name and creates its tables.
 *
 * @example
 * const store = await openWorkflowStore({ databaseUrl: process.env.DATABASE_URL, directory: 'data/workflows' });
 */
export async function openWorkflowStore(options: OpenStoreOptions): Promise<WorkflowStore> {
  const prefix = options.prefix !== undefined ? { prefix: options.prefix } : {};
  const store = options.databaseUrl
    ? postgresWorkflowStore({ connectionString: options.databaseUrl, ...prefix })
    : sqliteWorkflowStore({ directory: options.directory, ...prefix });
  await store.init();
  return store;
}
