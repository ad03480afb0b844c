// Backup runs as the nodes (and the control plane, for its own state) report them. A run arrives
// several times (events, the Backup RPC's final message, ListBackupRuns after a link comes up),
// in any order: a row only moves forward (running -> ok | failed -> pruned).
import { and, desc, eq, type SQL } from 'drizzle-orm';
import type { BackupRun as WireRun } from '../../proto/gen/podploy/agent/v1/agent';
import type { BackupRunSummary } from '../api/contract';
import type { Db } from '../db/database';
import { backupRuns } from '../db/schema';

export type RunRow = typeof backupRuns.$inferSelect;
export type RunStatus = RunRow['status'];
export type RunCopy = RunRow['copies'][number];
export type RunTrigger = RunRow['trigger'];

const RANK: Record<RunStatus, number> = { running: 0, ok: 1, failed: 1, pruned: 2 };
const TRIGGERS: readonly RunTrigger[] = ['schedule', 'manual', 'retry'];
const STATUSES: readonly RunStatus[] = ['running', 'ok', 'failed', 'pruned'];

export interface RunPatch {
  id: string;
  policyId: string;
  policyName?: string;
  app?: string | null;
  nodeId?: string | null;
  sourceKind?: string;
  trigger?: RunTrigger;
  attempt?: number;
  startedAt?: number;
  finishedAt?: number | null;
  status: RunStatus;
  plainBytes?: number;
  sealedBytes?: number;
  sha256?: string | null;
  copies?: RunCopy[];
  error?: string | null;
}

export function runPatchFromWire(r: WireRun, nodeId: string | null): RunPatch {
  return {
    id: r.id,
    policyId: r.policyId,
    app: r.app || null,
    nodeId,
    sourceKind: r.sourceKind,
    trigger: TRIGGERS.includes(r.trigger as RunTrigger) ? (r.trigger as RunTrigger) : 'schedule',
    attempt: r.attempt || 1,
    startedAt: Number(r.startedAtMs),
    finishedAt: Number(r.finishedAtMs) || null,
    status: STATUSES.includes(r.status as RunStatus) ? (r.status as RunStatus) : 'failed',
    plainBytes: Number(r.plainBytes),
    sealedBytes: Number(r.sealedBytes),
    sha256: r.plainSha256 || null,
    copies: r.copies.map((c) => ({ destinationId: c.destinationId, key: c.key, ok: c.ok, error: c.error || null })),
    error: r.error || null,
  };
}

export class RunStore {
  constructor(private db: Db) {}

  byId(id: string): RunRow | null {
    return this.db.select().from(backupRuns).where(eq(backupRuns.id, id)).get() ?? null;
  }

  // A whole id, or a prefix of one that matches exactly one run (the CLI prints short ids).
  find(idOrPrefix: string): RunRow | { ambiguous: number } | null {
    const exact = this.byId(idOrPrefix);
    if (exact) return exact;
    if (idOrPrefix.length < 6) return null;
    const rows = this.db.$client.prepare("SELECT id FROM backup_runs WHERE id LIKE ? ESCAPE '\\' LIMIT 2").all(`${idOrPrefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`) as { id: string }[];
    if (rows.length === 1) return this.byId(rows[0].id);
    return rows.length ? { ambiguous: rows.length } : null;
  }

  list(q: { policyId?: string; app?: string; limit: number }): RunRow[] {
    const where: SQL[] = [];
    if (q.policyId) where.push(eq(backupRuns.policyId, q.policyId));
    if (q.app) where.push(eq(backupRuns.app, q.app));
    return this.db.select().from(backupRuns).where(and(...where)).orderBy(desc(backupRuns.startedAt)).limit(q.limit).all();
  }

  latest(policyId: string): RunRow | null {
    return this.db.select().from(backupRuns).where(eq(backupRuns.policyId, policyId)).orderBy(desc(backupRuns.startedAt)).limit(1).get() ?? null;
  }

  okRuns(policyId: string): RunRow[] {
    return this.db.select().from(backupRuns).where(and(eq(backupRuns.policyId, policyId), eq(backupRuns.status, 'ok'))).all();
  }

  // Applies what is known about a run; returns the row when it changed, null when the patch
  // would move it backwards or the run is unknown and too little is known to record it.
  upsert(p: RunPatch, defaults: { policyName: string; app: string | null; nodeId: string | null; sourceKind: string }): RunRow | null {
    const row = this.byId(p.id);
    const defined = Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as Partial<RunRow>;
    if (!row) {
      return this.db
        .insert(backupRuns)
        .values({
          policyName: defaults.policyName,
          app: defaults.app,
          nodeId: defaults.nodeId,
          sourceKind: defaults.sourceKind,
          trigger: 'schedule',
          attempt: 1,
          startedAt: Date.now(),
          copies: [],
          ...defined,
          id: p.id,
          policyId: p.policyId,
          status: p.status,
        })
        .returning()
        .get();
    }
    if (RANK[p.status] < RANK[row.status]) return null;
    if (p.status === row.status && p.status !== 'running' && sameFigures(row, defined)) return null;
    const { id: _id, ...set } = defined;
    return this.db.update(backupRuns).set(set).where(eq(backupRuns.id, p.id)).returning().get();
  }
}

function sameFigures(row: RunRow, patch: Partial<RunRow>): boolean {
  return (Object.keys(patch) as (keyof RunRow)[]).every((k) => JSON.stringify(row[k]) === JSON.stringify(patch[k]));
}

export function runSummary(row: RunRow, names: { node: (id: string) => string; destination: (id: string) => string }): BackupRunSummary {
  return {
    id: row.id,
    policy: row.policyName,
    app: row.app,
    node: row.nodeId ? names.node(row.nodeId) : null,
    sourceKind: row.sourceKind,
    trigger: row.trigger,
    attempt: row.attempt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    status: row.status,
    plainBytes: row.plainBytes,
    sealedBytes: row.sealedBytes,
    sha256: row.sha256,
    copies: row.copies.map((c) => ({ destination: names.destination(c.destinationId), ok: c.ok, error: c.error })),
    error: row.error,
  };
}
