// The node's record of its backup runs (what ListBackupRuns answers and what retention decides
// over), one JSON file in the state folder, written atomically after every change. Bounded:
// past MAX_RECORDED_RUNS the oldest finished records go (failed and pruned ones first).
import { join } from 'node:path';
import type { BackupRun } from '../../proto/gen/podploy/agent/v1/agent';
import { readJson, writeJsonAtomic } from '../state/atomic-file';

export const BACKUP_RUNS_FILE = 'backup-runs.json';
export const MAX_RECORDED_RUNS = 5_000;
export const DEFAULT_LIST_LIMIT = 500;

// A run as recorded: the wire BackupRun plus the folder its copies sit in.
export interface RecordedRun extends BackupRun {
  folder: string;
}

export class BackupRunIndex {
  private readonly path: string;
  private runs: RecordedRun[];

  constructor(stateDir: string) {
    this.path = join(stateDir, BACKUP_RUNS_FILE);
    this.runs = readJson<RecordedRun[]>(this.path, []);
  }

  get(id: string): RecordedRun | undefined {
    return this.runs.find((r) => r.id === id);
  }

  // Adds or replaces (by id).
  put(run: RecordedRun): void {
    const i = this.runs.findIndex((r) => r.id === run.id);
    if (i >= 0) this.runs[i] = run;
    else this.runs.push(run);
    this.bound();
    this.save();
  }

  // Newest first.
  list(policyId = '', limit = DEFAULT_LIST_LIMIT): RecordedRun[] {
    return this.runs
      .filter((r) => !policyId || r.policyId === policyId)
      .sort((a, b) => b.startedAtMs - a.startedAtMs)
      .slice(0, limit || DEFAULT_LIST_LIMIT);
  }

  okRuns(policyId: string): RecordedRun[] {
    return this.runs.filter((r) => r.policyId === policyId && r.status === 'ok');
  }

  running(): RecordedRun[] {
    return this.runs.filter((r) => r.status === 'running');
  }

  private bound(): void {
    if (this.runs.length <= MAX_RECORDED_RUNS) return;
    const rank = (r: RecordedRun) => (r.status === 'failed' || r.status === 'pruned' ? 0 : r.status === 'ok' ? 1 : 2);
    const dropOrder = [...this.runs].sort((a, b) => rank(a) - rank(b) || a.startedAtMs - b.startedAtMs);
    const drop = new Set(dropOrder.slice(0, this.runs.length - MAX_RECORDED_RUNS).filter((r) => r.status !== 'running'));
    this.runs = this.runs.filter((r) => !drop.has(r));
  }

  private save(): void {
    writeJsonAtomic(this.path, this.runs);
  }
}
