import { describe, expect, it } from 'vitest';
import type { ReleaseSummary } from '../../src-main/api/contract';
import { canRollBackTo, previousRelease, releaseDuration, shortDigest, sortReleases, splitCreatedBy } from './releases';

const rel = (number: number, status: ReleaseSummary['status'], extra: Partial<ReleaseSummary> = {}): ReleaseSummary => ({
  id: `r${number}`,
  number,
  imageRef: `localhost/app:v${number}`,
  imageDigest: null,
  secretVersion: 0,
  status,
  failedStep: null,
  reason: null,
  createdBy: 'admin (browser)',
  createdAt: 1_000 * number,
  finishedAt: 1_000 * number + 500,
  ...extra,
});

describe('release timeline', () => {
  it('shortens digests to 12 hex digits', () => {
    expect(shortDigest(`sha256:${'0123456789abcdef'.repeat(4)}`)).toBe('0123456789ab');
    expect(shortDigest(null)).toBe('');
  });

  it('measures how long a deploy took, none while it runs', () => {
    expect(releaseDuration({ createdAt: 1_000, finishedAt: 3_500 })).toBe(2_500);
    expect(releaseDuration({ createdAt: 1_000, finishedAt: null })).toBeNull();
  });

  it('offers rollback to earlier live releases only, and none during a deploy', () => {
    const all = [rel(4, 'live'), rel(3, 'failed'), rel(2, 'superseded'), rel(1, 'superseded')];
    expect(all.filter((r) => canRollBackTo(r, all)).map((r) => r.number)).toEqual([2, 1]);
    expect(previousRelease(all)?.number).toBe(2);
    const busy = [rel(5, 'deploying', { finishedAt: null }), ...all];
    expect(busy.filter((r) => canRollBackTo(r, busy))).toEqual([]);
    expect(previousRelease(busy)).toBeNull();
    expect(previousRelease([rel(1, 'live')])).toBeNull();
  });

  it('sorts newest first and splits who from the note', () => {
    expect(sortReleases([rel(1, 'superseded'), rel(3, 'live'), rel(2, 'failed')]).map((r) => r.number)).toEqual([3, 2, 1]);
    expect(splitCreatedBy('admin (browser), rollback to v1')).toEqual({ who: 'admin (browser)', note: 'rollback to v1' });
    expect(splitCreatedBy('admin (cli)')).toEqual({ who: 'admin (cli)', note: '' });
  });
});
