/**
 * Real stores for the workflow engine's tests: a temporary SQLite directory, or the real PostgreSQL
 * (database `test`) with a table prefix unique to this run, dropped afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropPostgresWorkflowTables, postgresWorkflowStore, sqliteWorkflowStore, type WorkflowStore } from '../../src/workflow/index.js';

export const DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export type StoreKind = 'sqlite' | 'postgres';

/** Where one test's log lives; `open()` may be called several times (replicas, restarts). */
export interface StoreSpot {
  readonly kind: StoreKind;
  readonly directory: string;
  readonly prefix: string;
  open(): WorkflowStore;
  /** Environment for a child process opening the same log. */
  env(): Record<string, string>;
  drop(): Promise<void>;
}

let n = 0;

export function storeSpot(kind: StoreKind): StoreSpot {
  const directory = mkdtempSync(join(tmpdir(), 'tributary-wf-'));
  const prefix = `wf_${process.pid}_${Date.now().toString(36)}_${++n}_`;
  const opened: WorkflowStore[] = [];
  return {
    kind,
    directory,
    prefix,
    open() {
      const store = kind === 'postgres' ? postgresWorkflowStore({ connectionString: DATABASE_URL, prefix }) : sqliteWorkflowStore({ directory, prefix });
      opened.push(store);
      return store;
    },
    env() {
      const env: Record<string, string> = { WF_PREFIX: prefix, WF_DIRECTORY: directory };
      if (kind === 'postgres') env.WF_DATABASE_URL = DATABASE_URL;
      return env;
    },
    async drop() {
      await Promise.allSettled(opened.map((s) => s.close()));
      if (kind === 'postgres') await dropPostgresWorkflowTables(DATABASE_URL, prefix);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
