import { describe, expect, it } from 'vitest';
import { decideRetention, retentionProblems, type RetainedRun, type RetentionRules } from './backup-retention';

const DAY = 86_400_000;
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);

// The policy's clock: one run a day at `hourUtc`, pruned after each run as the agent does.
function simulateDaily(fromIso: string, days: number, rules: RetentionRules, hourUtc = 2, timeZone = 'UTC') {
  let kept: RetainedRun[] = [];
  const dropped: string[] = [];
  for (let i = 0; i < days; i++) {
    const now = at(fromIso) + i * DAY + hourUtc * 3_600_000;
    kept.push({ id: iso(now), atMs: now });
    const d = decideRetention(kept, rules, now, timeZone);
    dropped.push(...d.drop);
    kept = kept.filter((r) => d.keep.has(r.id));
  }
  return { kept: kept.map((r) => r.id).sort(), dropped };
}

describe('time-machine retention', () => {
  it('keeps exactly the last 3, 7 dailies, 4 weeklies and 6 monthlies after 120 days of daily runs', () => {
    const { kept, dropped } = simulateDaily('2026-01-01T00:00:00Z', 120, { last: 3, daily: 7, weekly: 4, monthly: 6 });
    // 2026-04-30 is a Thursday: weeks end on Sundays 04-26, 04-19, 04-12; months end 03-31, 02-28, 01-31.
    expect(kept).toEqual(['2026-01-31', '2026-02-28', '2026-03-31', '2026-04-12', '2026-04-19', '2026-04-24', '2026-04-25', '2026-04-26', '2026-04-27', '2026-04-28', '2026-04-29', '2026-04-30']);
    expect(dropped).toHaveLength(120 - 12);
    expect(new Set(dropped).size).toBe(dropped.length);
  });

  it('lets the monthly keep age out after its months pass', () => {
    const { kept } = simulateDaily('2026-01-01T00:00:00Z', 365, { last: 1, daily: 0, weekly: 0, monthly: 3 });
    expect(kept).toEqual(['2026-10-31', '2026-11-30', '2026-12-31']);
  });

  it('says why each run is kept', () => {
    const runs = [at('2026-03-01T02:00:00Z'), at('2026-03-02T02:00:00Z'), at('2026-03-09T02:00:00Z')].map((t) => ({ id: iso(t), atMs: t }));
    const d = decideRetention(runs, { last: 1, daily: 2, weekly: 2, monthly: 1 }, at('2026-03-09T03:00:00Z'));
    expect(Object.fromEntries(d.keep)).toEqual({
      '2026-03-09': ['last', 'daily', 'weekly', 'monthly'],
      // Monday 03-09 begins this ISO week; Monday 03-02 the previous one; Sunday 03-01 ends the
      // week before, outside two weeks.
      '2026-03-02': ['weekly'],
    });
    expect(d.drop).toEqual(['2026-03-01']);
  });

  it('cuts days in the policy time zone', () => {
    const runs = [
      { id: 'a', atMs: at('2026-01-01T22:30:00Z') },
      { id: 'b', atMs: at('2026-01-01T23:30:00Z') },
    ];
    const now = at('2026-01-02T08:00:00Z');
    const rules = { last: 0, daily: 7, weekly: 0, monthly: 0 };
    expect(decideRetention(runs, rules, now, 'UTC').drop).toEqual(['a']);
    // In Paris (UTC+1) the second run is already on 2 January: two days, two dailies.
    expect(decideRetention(runs, rules, now, 'Europe/Paris').drop).toEqual([]);
  });

  it('prunes after every run exactly as it would prune once at the end', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (let trial = 0; trial < 20; trial++) {
      const rules = { last: Math.floor(rand() * 4), daily: Math.floor(rand() * 10), weekly: Math.floor(rand() * 6), monthly: 1 + Math.floor(rand() * 8) };
      const times: number[] = [];
      let t = at('2026-01-01T00:00:00Z');
      for (let i = 0; i < 150; i++) times.push((t += Math.floor(rand() * 3 * DAY)));
      let kept: RetainedRun[] = [];
      for (const now of times) {
        kept.push({ id: String(now), atMs: now });
        const d = decideRetention(kept, rules, now);
        kept = kept.filter((r) => d.keep.has(r.id));
      }
      const all = times.map((now) => ({ id: String(now), atMs: now }));
      const once = decideRetention(all, rules, times[times.length - 1]);
      expect(kept.map((r) => r.id).sort()).toEqual([...once.keep.keys()].sort());
    }
  });

  it('refuses rules that keep nothing or are not counts', () => {
    expect(retentionProblems({ last: 0, daily: 0, weekly: 0, monthly: 0 })).toEqual(['retention keeps nothing: set at least one of last, daily, weekly, monthly above 0']);
    expect(retentionProblems({ last: -1, daily: 1.5, weekly: 0, monthly: 0 })).toEqual([
      'retention last must be a whole number in 0..10000, got -1',
      'retention daily must be a whole number in 0..10000, got 1.5',
    ]);
    expect(retentionProblems({ last: 3, daily: 7, weekly: 4, monthly: 6 })).toEqual([]);
  });
});
