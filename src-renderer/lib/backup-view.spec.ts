import { describe, expect, it } from 'vitest';
import { BackupPolicyInput, type BackupRunSummary } from '../../src-main/api/contract';
import { defaultRestoreTarget as serverDefaultRestoreTarget } from '../../src-main/backups/restore';
import { defaultRestoreTarget, restorableFrom, retentionParts, retentionText, runDurationMs, runSizeText, shortRunId, sourceText } from './backup-view';

const run = (over: Partial<BackupRunSummary> = {}): BackupRunSummary => ({
  id: '01J9ZK3Q-7ABC-4DEF',
  policy: 'web-daily',
  app: 'web',
  node: 'n1',
  sourceKind: 'volume',
  trigger: 'schedule',
  attempt: 1,
  startedAt: 1_000,
  finishedAt: 61_000,
  status: 'ok',
  plainBytes: 1536,
  sealedBytes: 2048,
  sha256: 'ab'.repeat(32),
  copies: [
    { destination: 'disk', ok: true, error: null },
    { destination: 's3', ok: false, error: 'step put: connection reset' },
  ],
  error: null,
  ...over,
});

describe('retention', () => {
  it('reads the defaults as such', () => {
    expect(retentionText({ last: 3, daily: 7, weekly: 4, monthly: 6 })).toBe('last 3 · 7 daily · 4 weekly · 6 monthly (defaults)');
  });
  it('marks each changed rule with the default it replaces', () => {
    expect(retentionText({ last: 5, daily: 7, weekly: 0, monthly: 6 })).toBe('last 5 (default 3) · 7 daily · 0 weekly (default 4) · 6 monthly');
    expect(retentionParts({ last: 5, daily: 7, weekly: 4, monthly: 6 }).map((p) => p.isDefault)).toEqual([false, true, true, true]);
  });
});

describe('what and how big', () => {
  it('names the source', () => {
    expect(sourceText('web', { kind: 'volume', volume: 'data', consistency: 'pause' })).toBe('web · volume data (pause)');
    expect(sourceText('web', { kind: 'volume', volume: 'data' })).toBe('web · volume data (live)');
    expect(sourceText('shop', { kind: 'postgres', database: 'shop' })).toBe('shop · PostgreSQL shop');
    expect(sourceText(null, { kind: 'control-plane' })).toBe('PodPloy state');
  });
  it('gives sizes plain and sealed, and nothing for a run that has not moved bytes', () => {
    expect(runSizeText(run())).toBe('1.5 KiB · 2.0 KiB sealed');
    expect(runSizeText(run({ status: 'running', plainBytes: 0, sealedBytes: 0 }))).toBe('—');
    expect(runSizeText(run({ status: 'failed', plainBytes: 0, sealedBytes: 0 }))).toBe('—');
  });
  it('runs the duration of a running run on the clock', () => {
    expect(runDurationMs(run(), 999_999)).toBe(60_000);
    expect(runDurationMs(run({ status: 'running', finishedAt: null }), 11_000)).toBe(10_000);
    expect(runDurationMs(run({ status: 'failed', finishedAt: null }), 11_000)).toBeNull();
  });
});

describe('restore', () => {
  it('reads only from destinations holding a complete copy', () => {
    expect(restorableFrom(run())).toEqual(['disk']);
  });
  it('predicts the server default target names', () => {
    expect(shortRunId('01J9ZK3Q-7ABC-4DEF')).toBe('01J9ZK3Q');
    expect(defaultRestoreTarget({ kind: 'volume', volume: 'data' }, '01J9ZK3Q-7ABC')).toBe('data-restored-01J9ZK3Q');
    expect(defaultRestoreTarget({ kind: 'postgres', database: 'shop' }, 'abcdef123456')).toBe('shop_restored_abcdef12');
    expect(defaultRestoreTarget({ kind: 'sqlite', path: '/data/app.db' }, 'abc-def-123456')).toBe('/data/app.db.restored-abcdef12');
    expect(defaultRestoreTarget({ kind: 'control-plane' }, 'x')).toBeNull();
    expect(defaultRestoreTarget(undefined, 'x')).toBeNull();
  });
  it('prefills exactly the name the server would give (src-main/backups/restore.ts)', () => {
    const runId = '0193f6a2-7c1e-7b3a-9d2e-5f4a3b2c1d0e';
    for (const source of [
      { kind: 'volume' as const, volume: 'data' },
      { kind: 'postgres' as const, database: 'shop' },
      { kind: 'mysql' as const, database: 'crm' },
      { kind: 'sqlite' as const, path: '/data/app.db' },
    ]) {
      const spec = BackupPolicyInput.parse({ name: 'p', app: 'web', source, destinations: ['disk'] });
      expect(defaultRestoreTarget(source, runId)).toBe(serverDefaultRestoreTarget(spec, runId));
    }
  });
});
