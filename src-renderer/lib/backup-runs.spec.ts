import { describe, expect, it } from 'vitest';
import type { BackupPolicySummary, BackupRunSummary } from '../../src-main/api/contract';
import { backupsRouteHref, formatRunsFilter, mergePolicies, mergeRuns, parseBackupsRoute, parseRunsFilter, runMatches, runsQuery, RUNS_PAGE_LIMIT, withLastRun } from './backup-runs';

const run = (id: string, startedAt: number, over: Partial<BackupRunSummary> = {}): BackupRunSummary => ({
  id,
  policy: 'web-daily',
  app: 'web',
  node: 'n1',
  sourceKind: 'volume',
  trigger: 'manual',
  attempt: 1,
  startedAt,
  finishedAt: null,
  status: 'running',
  plainBytes: 0,
  sealedBytes: 0,
  sha256: null,
  copies: [],
  error: null,
  ...over,
});

describe('the Backups address', () => {
  it('parses and writes #/backups with the runs filter', () => {
    expect(parseBackupsRoute('/backups')).toEqual({ page: 'backups', filter: '' });
    expect(parseBackupsRoute('/backups?app=web&status=failed')).toEqual({ page: 'backups', filter: 'app=web&status=failed' });
    expect(parseBackupsRoute('/backupsx')).toBeNull();
    expect(backupsRouteHref({ page: 'backups', filter: '' })).toBe('#/backups');
    const f = parseRunsFilter('policy=web-daily&app=web&status=failed');
    expect(f).toEqual({ policy: 'web-daily', app: 'web', status: 'failed' });
    expect(formatRunsFilter(f)).toBe('policy=web-daily&app=web&status=failed');
    expect(parseRunsFilter('status=bogus').status).toBe('');
  });
  it('sends policy and app to the server and filters the status here', () => {
    expect(runsQuery({ policy: 'p', app: '', status: 'ok' })).toEqual({ limit: RUNS_PAGE_LIMIT, policy: 'p' });
    const failed = run('a', 1, { status: 'failed' });
    expect(runMatches(failed, { policy: '', app: 'web', status: 'failed' })).toBe(true);
    expect(runMatches(failed, { policy: '', app: 'web', status: 'ok' })).toBe(false);
    expect(runMatches(failed, { policy: 'other', app: '', status: '' })).toBe(false);
  });
});

describe('the live run list', () => {
  it('keeps newest first and replaces a run by id as it progresses', () => {
    let list = mergeRuns([], [run('a', 1), run('b', 2)]);
    list = mergeRuns(list, [run('a', 1, { status: 'ok', finishedAt: 5 })]);
    expect(list.map((r) => [r.id, r.status])).toEqual([
      ['b', 'running'],
      ['a', 'ok'],
    ]);
    expect(mergeRuns(list, [run('c', 3)], 2).map((r) => r.id)).toEqual(['c', 'b']);
  });
});

describe('policies kept current', () => {
  const policy = (name: string, lastRun: BackupRunSummary | null) => ({ name, lastRun }) as BackupPolicySummary;
  it('takes a newer or the same run as the last run, never an older one', () => {
    const list = [policy('web-daily', run('old', 10)), policy('other', null)];
    expect(withLastRun(list, run('new', 20))[0].lastRun!.id).toBe('new');
    expect(withLastRun(list, run('older', 5))[0].lastRun!.id).toBe('old');
    expect(withLastRun(list, run('old', 10, { status: 'ok' }))[0].lastRun!.status).toBe('ok');
    expect(withLastRun(list, run('new', 20))[1].lastRun).toBeNull();
  });
  it('merges policies by name, sorted', () => {
    const merged = mergePolicies([policy('b', null), policy('a', null)], [policy('b', run('x', 1))]);
    expect(merged.map((p) => [p.name, p.lastRun?.id ?? null])).toEqual([
      ['a', null],
      ['b', 'x'],
    ]);
  });
});
