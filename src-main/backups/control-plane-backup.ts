// The control plane's own state, backed up by the control plane: a consistent copy of its SQLite
// file (VACUUM INTO a 0600 file in the data folder, removed after), sealed under a key derived
// from the master key and written to the policy's destinations through the same pipeline the
// agents use. Retention prunes exactly as on a node.
import { randomUUID } from 'node:crypto';
import { closeSync, createReadStream, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { decideRetention } from '../../proto/backup-retention';
import { runFolder } from '../../proto/backup/manifest';
import { deleteBackupRun } from '../../proto/backup/read-run';
import { writeBackupRun, type RunTarget } from '../../proto/backup/write-run';
import { openDestination } from '../../proto/backup/destinations/open-destination';
import { CONTROL_PLANE_SOURCE } from '../../proto/backup-defaults';
import type { BackupProgressEvent } from '../api/contract';
import type { Db } from '../db/database';
import { controlPlaneBackupKey } from './backup-keys';
import type { DestinationStore } from './destination-store';
import { specOf, type PolicyRow } from './policy-store';
import type { RunRow, RunStore, RunTrigger } from './run-store';

export const SNAPSHOT_PREFIX = '.backup-snapshot-';

export interface ControlPlaneBackupDeps {
  db: Db;
  dataDir: string;
  masterKey: Uint8Array;
  destinations: DestinationStore;
  runs: RunStore;
  writer: string;
  runChanged: (row: RunRow) => void;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
}

// A consistent copy of the live database (readers and writers go on meanwhile). SQLite requires
// the target to be absent or empty: it is created empty first, so it is 0600 from the start.
export function snapshotDatabase(db: Db, file: string): void {
  closeSync(openSync(file, 'wx', 0o600));
  try {
    db.$client.prepare('VACUUM INTO ?').run(file);
  } catch (err) {
    rmSync(file, { force: true });
    throw err;
  }
}

export async function runControlPlaneBackup(
  d: ControlPlaneBackupDeps,
  policy: PolicyRow,
  opts: { trigger: RunTrigger; attempt?: number; runId?: string; onProgress?: (p: BackupProgressEvent) => void; signal?: AbortSignal },
): Promise<RunRow> {
  const spec = specOf(policy);
  const runId = opts.runId ?? randomUUID();
  const startedAt = Date.now();
  const defaults = { policyName: policy.name, app: null, nodeId: null, sourceKind: CONTROL_PLANE_SOURCE };
  const record = (patch: Parameters<RunStore['upsert']>[0]) => {
    const row = d.runs.upsert(patch, defaults);
    if (row) d.runChanged(row);
    return row ?? d.runs.byId(patch.id)!;
  };
  record({ id: runId, policyId: policy.id, status: 'running', trigger: opts.trigger, attempt: opts.attempt ?? 1, startedAt });
  const folder = runFolder(policy.id, runId, null);
  const file = join(d.dataDir, `${SNAPSHOT_PREFIX}${runId}.db`);
  const targets: RunTarget[] = [];
  const progress = (phase: string, plainBytes: number, sealedBytes: number, message: string) => opts.onProgress?.({ phase, plainBytes, sealedBytes, message });
  try {
    progress('reading', 0, 0, 'copying the control plane database');
    snapshotDatabase(d.db, file);
    for (const name of spec.destinations) {
      const row = d.destinations.require(name);
      targets.push({ id: row.id, destination: await openDestination(d.destinations.config(row)) });
    }
    const { manifest, copies } = await writeBackupRun({
      source: createReadStream(file),
      key: controlPlaneBackupKey(d.masterKey),
      targets,
      folder,
      manifest: { runId, policyId: policy.id, policyName: policy.name, nodeId: null, app: null, source: { kind: CONTROL_PLANE_SOURCE }, startedAt, writer: d.writer },
      signal: opts.signal,
      onProgress: (p) => progress('uploading', p.plainBytes, p.sealedBytes, `to ${spec.destinations.join(', ')}`),
    });
    const done = record({
      id: runId,
      policyId: policy.id,
      status: 'ok',
      finishedAt: Date.now(),
      plainBytes: manifest.plainBytes,
      sealedBytes: manifest.sealedBytes,
      sha256: manifest.plainSha256,
      copies: copies.map((c) => ({ destinationId: c.id, key: c.key, ok: c.ok, error: c.error })),
      error: null,
    });
    progress('pruning', manifest.plainBytes, manifest.sealedBytes, 'applying the retention rules');
    await pruneControlPlaneRuns(d, policy, targets);
    return d.runs.byId(runId) ?? done;
  } catch (err) {
    const copies = (err as { copies?: { id: string; key: string; ok: boolean; error: string | null }[] }).copies;
    return record({
      id: runId,
      policyId: policy.id,
      status: 'failed',
      finishedAt: Date.now(),
      error: err instanceof Error ? err.message : String(err),
      ...(copies ? { copies: copies.map((c) => ({ destinationId: c.id, key: c.key, ok: c.ok, error: c.error })) } : {}),
    });
  } finally {
    rmSync(file, { force: true });
    await Promise.all(targets.map((t) => t.destination.close().catch(() => undefined)));
  }
}

// Drops, on every destination that holds them, the runs the policy's retention no longer keeps.
export async function pruneControlPlaneRuns(d: ControlPlaneBackupDeps, policy: PolicyRow, targets: RunTarget[], nowMs = Date.now()): Promise<string[]> {
  const spec = specOf(policy);
  const ok = d.runs.okRuns(policy.id);
  const { drop } = decideRetention(ok.map((r) => ({ id: r.id, atMs: r.startedAt })), spec.retention, nowMs, spec.timezone);
  const byId = new Map(targets.map((t) => [t.id, t.destination]));
  const pruned: string[] = [];
  for (const id of drop) {
    const run = ok.find((r) => r.id === id)!;
    let failed: string | null = null;
    for (const copy of run.copies.filter((c) => c.ok)) {
      try {
        const open = byId.get(copy.destinationId);
        if (open) await deleteBackupRun(open, copy.key);
        else await deleteFromStored(d, copy.destinationId, copy.key);
      } catch (err) {
        failed = err instanceof Error ? err.message : String(err);
      }
    }
    if (failed) {
      d.log?.('a pruned control-plane backup could not be deleted; it is tried again after the next run', { run: id, error: failed });
      continue;
    }
    const row = d.runs.upsert({ id, policyId: policy.id, status: 'pruned' }, { policyName: policy.name, app: null, nodeId: null, sourceKind: CONTROL_PLANE_SOURCE });
    if (row) d.runChanged(row);
    pruned.push(id);
  }
  return pruned;
}

// A run on a destination the policy no longer names (a removed destination's runs stay where they are).
async function deleteFromStored(d: ControlPlaneBackupDeps, destinationId: string, folder: string): Promise<void> {
  const row = d.destinations.byId(destinationId);
  if (!row) return;
  const destination = await openDestination(d.destinations.config(row));
  try {
    await deleteBackupRun(destination, folder);
  } finally {
    await destination.close().catch(() => undefined);
  }
}
