import { describe, expect, it } from 'vitest';
import type { MetricsPoint } from '../../src-main/api/contract';
import { appSeries, mergeMetrics } from './metrics';

const p = (container: string, atMs: number, cpuPercent: number, memBytes: number, memLimitBytes = 0): MetricsPoint => ({
  node: 'h8',
  app: 'web',
  container,
  atMs,
  cpuPercent,
  memBytes,
  memLimitBytes,
  restarts: 0,
});

describe('app metrics', () => {
  it('adds up the containers of one interval, the newest sample of each', () => {
    const s = appSeries([p('a', 1_000, 1, 100, 1000), p('a', 11_000, 2, 110, 1000), p('b', 13_000, 5, 50, 500), p('b', 14_000, 6, 60, 500), p('a', 21_000, 3, 120, 1000)]);
    expect(s.cpu).toEqual([
      { t: 1_000, v: 1 },
      { t: 14_000, v: 8 },
      { t: 21_000, v: 3 },
    ]);
    expect(s.mem.map((x) => x.v)).toEqual([100, 170, 120]);
    expect(s.memLimit).toBe(1000);
  });

  it('says unlimited when a container of the newest interval has no limit', () => {
    expect(appSeries([p('a', 1_000, 1, 100, 1000), p('b', 2_000, 1, 100, 0)]).memLimit).toBeNull();
    expect(appSeries([])).toEqual({ cpu: [], mem: [], memLimit: null });
  });

  it('merges live samples once, oldest first, and drops what left the window', () => {
    const list = mergeMetrics([], [p('a', 20, 1, 1), p('a', 10, 1, 1)], 0);
    expect(list.map((x) => x.atMs)).toEqual([10, 20]);
    const again = mergeMetrics(list, [p('a', 20, 9, 9), p('b', 20, 1, 1), p('a', 5, 1, 1)], 10);
    expect(again.map((x) => `${x.container}${x.atMs}`)).toEqual(['a10', 'a20', 'b20']);
    expect(again[1].cpuPercent).toBe(9);
  });
});
