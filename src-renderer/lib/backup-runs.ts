// The Backups page's address and run list: #/backups?policy=&app=&status= (the runs filter), the
// query it sends, which live runs belong in the list, and the merge of the live topic into it.
// Pure; backup-runs.spec.ts.
import type { BackupPolicySummary, BackupRunSummary, InputOf } from '../../src-main/api/contract';

export const RUNS_PAGE_LIMIT = 500;
export const RUN_STATUSES = ['running', 'ok', 'failed', 'pruned'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export interface RunsFilter {
  policy: string;
  app: string;
  status: '' | RunStatus;
}

export const EMPTY_RUNS_FILTER: RunsFilter = { policy: '', app: '', status: '' };

export type BackupsRoute = { page: 'backups'; filter: string };

export function parseBackupsRoute(path: string): BackupsRoute | null {
  const m = /^\/backups(?:\?(.*))?$/.exec(path);
  return m ? { page: 'backups', filter: m[1] ?? '' } : null;
}

export function backupsRouteHref(route: BackupsRoute): string {
  return route.filter ? `#/backups?${route.filter}` : '#/backups';
}

export function parseRunsFilter(search: string): RunsFilter {
  const p = new URLSearchParams(search.replace(/^\?/, ''));
  const status = p.get('status') ?? '';
  return {
    policy: p.get('policy')?.trim() ?? '',
    app: p.get('app')?.trim() ?? '',
    status: (RUN_STATUSES as readonly string[]).includes(status) ? (status as RunStatus) : '',
  };
}

export function formatRunsFilter(f: RunsFilter): string {
  const p = new URLSearchParams();
  if (f.policy.trim()) p.set('policy', f.policy.trim());
  if (f.app.trim()) p.set('app', f.app.trim());
  if (f.status) p.set('status', f.status);
  return p.toString();
}

// The status is filtered here, not by the server (backups.runs takes policy and app).
export function runsQuery(f: RunsFilter): InputOf<'backups.runs'> {
  const q: InputOf<'backups.runs'> = { limit: RUNS_PAGE_LIMIT };
  if (f.policy.trim()) q.policy = f.policy.trim();
  if (f.app.trim()) q.app = f.app.trim();
  return q;
}

export function runMatches(r: Pick<BackupRunSummary, 'policy' | 'app' | 'status'>, f: RunsFilter): boolean {
  if (f.policy.trim() && r.policy !== f.policy.trim()) return false;
  if (f.app.trim() && r.app !== f.app.trim()) return false;
  return !f.status || r.status === f.status;
}

// Newest first; a repeated id replaces the older copy.
export function mergeRuns(list: readonly BackupRunSummary[], incoming: readonly BackupRunSummary[], max = RUNS_PAGE_LIMIT): BackupRunSummary[] {
  const byId = new Map(list.map((r) => [r.id, r]));
  for (const r of incoming) byId.set(r.id, r);
  return [...byId.values()].sort((a, b) => b.startedAt - a.startedAt || a.id.localeCompare(b.id)).slice(0, max);
}

// Policies by name, sorted; an incoming policy replaces the one of its name.
export function mergePolicies(list: readonly BackupPolicySummary[], incoming: readonly BackupPolicySummary[]): BackupPolicySummary[] {
  const byName = new Map(list.map((p) => [p.name, p]));
  for (const p of incoming) byName.set(p.name, p);
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

// A run announced on the live topic becomes its policy's last run when it is the newest one.
export function withLastRun(policies: readonly BackupPolicySummary[], run: BackupRunSummary): BackupPolicySummary[] {
  return policies.map((p) => {
    if (p.name !== run.policy) return p;
    const last = p.lastRun;
    if (last && last.id !== run.id && last.startedAt > run.startedAt) return p;
    return { ...p, lastRun: run };
  });
}
