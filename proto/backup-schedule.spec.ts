import { describe, expect, it } from 'vitest';
import { nextRunTimes, scheduleProblems } from './backup-schedule';

const NOW = Date.parse('2026-11-27T10:00:00Z');

describe('backup schedules', () => {
  it('accepts cron expressions and nicknames', () => {
    expect(scheduleProblems(['0 3 * * *', '30 */6 * * 1-5', '@weekly'], 'UTC', NOW)).toEqual([]);
  });

  it('refuses invalid expressions with the reason, one line each', () => {
    expect(scheduleProblems(['61 3 * * *', '* * *', '0 3 * * *'], 'UTC', NOW)).toEqual([
      'schedule "61 3 * * *" is not a valid cron expression: Invalid value for minute: 61',
      `schedule "* * *" is not a valid cron expression: invalid configuration format ('* * *'), exactly five, six, or seven space separated parts are required.`,
    ]);
  });

  it('refuses schedules that fire every few minutes, none at all, or an unknown zone', () => {
    expect(scheduleProblems(['* * * * *'], 'UTC', NOW)).toEqual(['schedule "* * * * *" fires more often than every 5 minutes']);
    expect(scheduleProblems([], 'UTC', NOW)).toEqual(['a policy needs at least one schedule (a cron expression such as "0 3 * * *")']);
    expect(scheduleProblems(['0 3 * * *'], 'Mars/Olympus', NOW)).toEqual(["time zone 'Mars/Olympus' is not an IANA time zone (e.g. UTC, Europe/Paris, America/New_York)"]);
  });

  it('merges the next runs of several expressions in the policy zone', () => {
    const runs = nextRunTimes(['0 3 * * *', '0 15 * * *'], 'Europe/Paris', NOW, 4).map((t) => new Date(t).toISOString());
    // Paris is UTC+1 in November.
    expect(runs).toEqual(['2026-11-27T14:00:00.000Z', '2026-11-28T02:00:00.000Z', '2026-11-28T14:00:00.000Z', '2026-11-29T02:00:00.000Z']);
  });
});
