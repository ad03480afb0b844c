// The words of the Backups tables: what a policy backs up, its retention with the defaults
// marked, a run's size and copies, where a restore lands by default. Pure; backup-view.spec.ts.
import type { BackupPolicySummary, BackupRunSummary, BackupSourceInput } from '../../src-main/api/contract';
import { BACKUP_DEFAULTS } from '../../proto/backup-defaults';
import type { RetentionRules } from '../../proto/backup-retention';
import { formatBytes } from './format';

export const RETENTION_KEYS = ['last', 'daily', 'weekly', 'monthly'] as const;
export type RetentionKey = (typeof RETENTION_KEYS)[number];

export const RETENTION_LABELS: Record<RetentionKey, string> = {
  last: 'newest runs',
  daily: 'days (newest run of each)',
  weekly: 'weeks (newest run of each)',
  monthly: 'months (newest run of each)',
};

export interface RetentionPart {
  key: RetentionKey;
  text: string; // "last 3", "7 daily"
  isDefault: boolean;
  defaultValue: number;
}

export function retentionParts(r: RetentionRules): RetentionPart[] {
  return RETENTION_KEYS.map((key) => {
    const v = r[key];
    const d = BACKUP_DEFAULTS.retention[key];
    return { key, text: key === 'last' ? `last ${v}` : `${v} ${key}`, isDefault: v === d, defaultValue: d };
  });
}

// "last 3 · 7 daily · 4 weekly · 6 monthly (defaults)", "last 5 (default 3) · 7 daily · …".
export function retentionText(r: RetentionRules): string {
  const parts = retentionParts(r);
  if (parts.every((p) => p.isDefault)) return `${parts.map((p) => p.text).join(' · ')} (defaults)`;
  return parts.map((p) => (p.isDefault ? p.text : `${p.text} (default ${p.defaultValue})`)).join(' · ');
}

// What a policy backs up: "web · volume data (live)", "web · PostgreSQL shop", "PodPloy state".
export function sourceText(app: string | null, s: BackupSourceInput): string {
  const what = sourceWhat(s);
  return app && s.kind !== 'control-plane' ? `${app} · ${what}` : what;
}

export function sourceWhat(s: BackupSourceInput): string {
  switch (s.kind) {
    case 'volume':
      return `volume ${s.volume} (${s.consistency ?? BACKUP_DEFAULTS.consistency})`;
    case 'postgres':
      return `PostgreSQL ${s.database}`;
    case 'mysql':
      return `MySQL ${s.database}`;
    case 'sqlite':
      return `SQLite ${s.path}`;
    case 'control-plane':
      return 'PodPloy state';
  }
}

// "1.2 GiB · 1.2 GiB sealed"; a running run with nothing yet reads "—".
export function runSizeText(r: Pick<BackupRunSummary, 'plainBytes' | 'sealedBytes' | 'status'>): string {
  if (r.plainBytes === 0 && r.sealedBytes === 0 && r.status !== 'ok') return '—';
  return `${formatBytes(r.plainBytes)} · ${formatBytes(r.sealedBytes)} sealed`;
}

export function runDurationMs(r: Pick<BackupRunSummary, 'startedAt' | 'finishedAt' | 'status'>, now: number): number | null {
  if (r.finishedAt !== null) return Math.max(0, r.finishedAt - r.startedAt);
  return r.status === 'running' ? Math.max(0, now - r.startedAt) : null;
}

export const TRIGGER_LABELS: Record<BackupRunSummary['trigger'], string> = { schedule: 'scheduled', manual: 'manual', retry: 'retry' };

// The destinations a restore may read from: those holding a complete copy.
export function restorableFrom(r: Pick<BackupRunSummary, 'copies'>): string[] {
  return r.copies.filter((c) => c.ok).map((c) => c.destination);
}

export function shortRunId(id: string): string {
  return id.replace(/-/g, '').slice(0, 8);
}

// The name the server gives a restore in mode "new" when none is asked for:
// "<volume>-restored-<short run id>", "<database>_restored_<short>", "<path>.restored-<short>"
// (src-main/backups/restore.ts defaultRestoreTarget); null for PodPloy's state (not restored here).
export function defaultRestoreTarget(source: BackupSourceInput | undefined, runId: string): string | null {
  if (!source) return null;
  const short = shortRunId(runId);
  if (source.kind === 'volume') return `${source.volume}-restored-${short}`;
  if (source.kind === 'postgres' || source.kind === 'mysql') return `${source.database}_restored_${short}`;
  if (source.kind === 'sqlite') return `${source.path}.restored-${short}`;
  return null;
}

// What a restore in mode "new" produces, in words: "a new volume", "a new database".
export function restoreTargetNoun(kind: string): string {
  if (kind === 'volume') return 'volume';
  if (kind === 'postgres' || kind === 'mysql') return 'database';
  if (kind === 'sqlite') return 'SQLite file';
  return 'state';
}

// A policy's last run in a few words: "ok 3h ago", "failed: reason", "never run".
export function lastRunStatus(p: Pick<BackupPolicySummary, 'lastRun'>): 'none' | BackupRunSummary['status'] {
  return p.lastRun?.status ?? 'none';
}

// The command that restores PodPloy's own state onto a fresh control plane (offline, not the UI).
export function stateRestoreCommand(run: Pick<BackupRunSummary, 'id'>): string {
  return `podploy state restore --destination DEST.json --run ${run.id} --data DIR`;
}
