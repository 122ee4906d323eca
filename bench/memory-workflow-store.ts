/**
 * The orders benchmark's baseline: a workflow log that keeps nothing (plain maps in the gateway's
 * memory, no I/O), so the same engine makes the same upstream calls without a durable log. The gap
 * between this and the embedded or PostgreSQL log is what durability costs per order. Never for
 * serving: a crash forgets every workflow in flight.
 */
import { WorkflowLeaseLostError, type InstanceRow, type StepRow, type WorkflowStore } from '../src/workflow/index.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export function memoryWorkflowStore(): WorkflowStore {
  const instances = new Map<string, Mutable<InstanceRow>>();
  const byKey = new Map<string, string>();
  const steps = new Map<string, Map<string, Mutable<StepRow>>>();
  const active = (r: InstanceRow) => r.status === 'running' || r.status === 'compensating';
  const fenced = (id: string, owner: string) => {
    const r = instances.get(id);
    if (!r || r.owner !== owner) throw new WorkflowLeaseLostError(id);
    return r;
  };
  return {
    kind: 'memory',
    async init() {},
    async create(row) {
      const k = row.clientKey === null ? null : `${row.userId}\u0000${row.clientKey}`;
      const held = k === null ? undefined : byKey.get(k);
      if (held) return { created: false, row: { ...instances.get(held)! } };
      const r: Mutable<InstanceRow> = {
        id: row.id,
        workflow: row.workflow,
        userId: row.userId,
        clientKey: row.clientKey,
        inputHash: row.inputHash,
        input: row.input,
        status: 'running',
        outcome: null,
        owner: row.owner,
        leaseUntil: row.leaseUntil,
        attempts: 1,
        lastError: null,
        createdAt: row.now,
        updatedAt: row.now,
      };
      instances.set(r.id, r);
      if (k !== null) byKey.set(k, r.id);
      return { created: true, row: { ...r } };
    },
    async get(id) {
      const r = instances.get(id);
      return r && { ...r };
    },
    async byClientKey(userId, clientKey) {
      const id = byKey.get(`${userId}\u0000${clientKey}`);
      return id === undefined ? undefined : { ...instances.get(id)! };
    },
    async steps(id) {
      return [...(steps.get(id)?.values() ?? [])].map((s) => ({ ...s }));
    },
    async record(id, owner, writes, now, patch) {
      fenced(id, owner).updatedAt = now;
      let mine = steps.get(id);
      if (!mine) steps.set(id, (mine = new Map()));
      for (const s of writes) {
        const k = `${s.step}\u0000${s.kind}`;
        const prev = mine.get(k);
        mine.set(k, {
          step: s.step,
          kind: s.kind,
          state: s.state,
          input: s.input ?? prev?.input,
          output: s.output,
          error: s.error,
          attempts: (prev?.attempts ?? 0) + (s.state === 'started' ? 1 : 0),
          updatedAt: now,
        });
      }
      if (patch) await this.update(id, owner, patch, now);
    },
    async update(id, owner, patch, now) {
      const r = fenced(id, owner);
      if (patch.status !== undefined) r.status = patch.status;
      if (patch.outcome !== undefined) r.outcome = patch.outcome;
      if (patch.owner !== undefined) r.owner = null;
      if (patch.leaseUntil !== undefined) r.leaseUntil = patch.leaseUntil;
      if (patch.lastError !== undefined) r.lastError = patch.lastError;
      r.updatedAt = now;
    },
    async renew(owner, ids, leaseUntil) {
      let n = 0;
      for (const id of ids) {
        const r = instances.get(id);
        if (r && r.owner === owner && active(r)) {
          r.leaseUntil = leaseUntil;
          n++;
        }
      }
      return n;
    },
    async claimExpired(owner, leaseUntil, now, limit, adopt = false) {
      const out: InstanceRow[] = [];
      for (const r of instances.values()) {
        if (out.length >= limit) break;
        if (!active(r) || !(r.leaseUntil < now || (adopt && r.owner === owner))) continue;
        Object.assign(r, { owner, leaseUntil, attempts: r.attempts + 1, updatedAt: now });
        out.push({ ...r });
      }
      return out;
    },
    async list(filter) {
      return [...instances.values()]
        .filter((r) => !filter.statuses?.length || filter.statuses.includes(r.status))
        .filter((r) => filter.stuckAt === undefined || (active(r) && (r.leaseUntil < filter.stuckAt || r.owner === null)))
        .filter((r) => filter.workflow === undefined || r.workflow === filter.workflow)
        .sort((a, b) => b.createdAt - a.createdAt)
        .slice(0, filter.limit ?? 100)
        .map((r) => ({ ...r }));
    },
    async purge(before) {
      let n = 0;
      for (const [id, r] of instances) {
        if (active(r) || r.createdAt >= before) continue;
        instances.delete(id);
        steps.delete(id);
        if (r.clientKey !== null) byKey.delete(`${r.userId}\u0000${r.clientKey}`);
        n++;
      }
      return n;
    },
    async close() {},
  };
}
