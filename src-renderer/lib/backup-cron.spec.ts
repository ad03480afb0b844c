import { describe, expect, it } from 'vitest';
import { nextRunTimes } from '../../proto/backup-schedule';
import { describeCron, formatZoned, joinWords, ordinal } from './backup-cron';

describe('describeCron', () => {
  it('says the default schedule and fixed times in words, with the zone', () => {
    expect(describeCron('0 3 * * *', 'UTC')).toBe('every day at 03:00 UTC');
    expect(describeCron('30 2 * * *', 'Europe/Paris')).toBe('every day at 02:30 Europe/Paris');
    expect(describeCron('0 3,15 * * *', 'UTC')).toBe('every day at 03:00 and 15:00 UTC');
    expect(describeCron('0 0 3 * * *', 'UTC')).toBe('every day at 03:00 UTC');
  });
  it('says intervals', () => {
    expect(describeCron('*/15 * * * *', 'UTC')).toBe('every 15 minutes UTC');
    expect(describeCron('5 * * * *', 'UTC')).toBe('every hour at :05 UTC');
    expect(describeCron('0 */6 * * *', 'UTC')).toBe('every 6 hours at :00 UTC');
    expect(describeCron('@hourly', 'UTC')).toBe('every hour at :00 UTC');
    expect(describeCron('0 */6 * * 6', 'UTC')).toBe('every Saturday, every 6 hours at :00 UTC');
  });
  it('says weekdays, days of the month and months', () => {
    expect(describeCron('0 4 * * 0', 'UTC')).toBe('every Sunday at 04:00 UTC');
    expect(describeCron('0 4 * * 7', 'UTC')).toBe('every Sunday at 04:00 UTC');
    expect(describeCron('0 4 * * mon,thu', 'UTC')).toBe('every Monday and Thursday at 04:00 UTC');
    expect(describeCron('0 1 * * 1-5', 'UTC')).toBe('every weekday (Monday to Friday) at 01:00 UTC');
    expect(describeCron('0 0 1 * *', 'UTC')).toBe('on the 1st of every month at 00:00 UTC');
    expect(describeCron('@monthly', 'UTC')).toBe('on the 1st of every month at 00:00 UTC');
    expect(describeCron('0 2 1,15 * *', 'UTC')).toBe('on the 1st and 15th of every month at 02:00 UTC');
    expect(describeCron('0 0 1 1 *', 'UTC')).toBe('on the 1st of January at 00:00 UTC');
    expect(describeCron('0 0 * 1,7 *', 'UTC')).toBe('every day in January and July at 00:00 UTC');
  });
  it('gives up (null) on shapes it would say wrongly, instead of guessing', () => {
    expect(describeCron('0 3 1 * 1', 'UTC')).toBeNull(); // day of month OR weekday
    expect(describeCron('0 3 L * *', 'UTC')).toBeNull();
    expect(describeCron('15 0 3 * * *', 'UTC')).toBeNull(); // seconds other than 0
    expect(describeCron('nonsense', 'UTC')).toBeNull();
    expect(describeCron('0 25 * * *', 'UTC')).toBeNull();
    expect(describeCron('0 1,2,3,4,5,6,7 * * *', 'UTC')).toBeNull();
  });
  it('agrees with croner on when a described schedule fires', () => {
    // "every Sunday at 04:00 UTC": croner's next runs are Sundays at 04:00 UTC.
    const runs = nextRunTimes(['0 4 * * 0'], 'UTC', Date.UTC(2025, 0, 1), 3).map((t) => new Date(t));
    expect(runs.map((d) => [d.getUTCDay(), d.getUTCHours(), d.getUTCMinutes()])).toEqual([
      [0, 4, 0],
      [0, 4, 0],
      [0, 4, 0],
    ]);
  });
});

describe('words', () => {
  it('ordinals and lists', () => {
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31].map(ordinal)).toEqual(['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '23rd', '31st']);
    expect(joinWords(['a'])).toBe('a');
    expect(joinWords(['a', 'b', 'c'])).toBe('a, b and c');
  });
  it('formats a time in the policy zone', () => {
    const t = Date.UTC(2025, 5, 1, 1, 0);
    expect(formatZoned(t, 'UTC')).toBe('2025-06-01 01:00 UTC');
    expect(formatZoned(t, 'Europe/Paris')).toBe('2025-06-01 03:00 Europe/Paris');
    expect(formatZoned(t, 'America/New_York')).toBe('2025-05-31 21:00 America/New_York');
    expect(formatZoned(t, 'Not/AZone')).toBe('2025-06-01 01:00 UTC');
    expect(formatZoned(t, 'Europe/Paris', false)).toBe('2025-06-01 03:00');
  });
});
