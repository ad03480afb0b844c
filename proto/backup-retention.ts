// Which backup runs a policy keeps, time-machine style. Pure: the agent prunes with it after every
// run (also while the control plane is closed) and the UI shows the same answer.
//
// A successful run is kept when any rule keeps it:
//   - last:    it is one of the `last` newest runs;
//   - daily:   it is the newest run of its calendar day, and that day is one of the `daily` days
//              ending today (today counts as the first);
//   - weekly:  the newest run of its ISO week (Monday first), within the `weekly` weeks ending this one;
//   - monthly: the newest run of its calendar month, within the `monthly` months ending this one.
// Days, weeks and months are those of the policy's time zone. Each rule only ever lets go of a
// run as time passes or newer runs arrive, so pruning after every run keeps exactly what pruning
// once at the end would keep.

export interface RetentionRules {
  last: number;
  daily: number;
  weekly: number;
  monthly: number;
}

export const RETENTION_DEFAULTS: RetentionRules = { last: 3, daily: 7, weekly: 4, monthly: 6 };
export const MAX_RETENTION_COUNT = 10_000;

export interface RetainedRun {
  id: string;
  atMs: number;
}

export type KeepReason = 'last' | 'daily' | 'weekly' | 'monthly';

export interface RetentionDecision {
  // id -> the rules that keep it (at least one).
  keep: Map<string, KeepReason[]>;
  drop: string[];
}

export function retentionProblems(r: RetentionRules): string[] {
  const out: string[] = [];
  for (const k of ['last', 'daily', 'weekly', 'monthly'] as const) {
    const v = r[k];
    if (!Number.isInteger(v) || v < 0 || v > MAX_RETENTION_COUNT) out.push(`retention ${k} must be a whole number in 0..${MAX_RETENTION_COUNT}, got ${v}`);
  }
  if (out.length === 0 && r.last + r.daily + r.weekly + r.monthly === 0) out.push('retention keeps nothing: set at least one of last, daily, weekly, monthly above 0');
  return out;
}

interface LocalDate {
  year: number;
  month: number; // 1-12
  day: number;
}

function localDateOf(atMs: number, timeZone: string): LocalDate {
  const parts = dateFormat(timeZone).formatToParts(new Date(atMs));
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  return { year: get('year'), month: get('month'), day: get('day') };
}

const formats = new Map<string, Intl.DateTimeFormat>();
function dateFormat(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (!f) formats.set(timeZone, (f = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric' })));
  return f;
}

// Whole days since 1970-01-01 of a calendar date (no time zone left in it).
function dayNumber(d: LocalDate): number {
  return Math.floor(Date.UTC(d.year, d.month - 1, d.day) / 86_400_000);
}

// Weeks since the Monday before 1970-01-01 (a Thursday), so consecutive ISO weeks differ by one.
function weekNumber(d: LocalDate): number {
  const n = dayNumber(d);
  const weekday = (n + 3) % 7; // 0 = Monday
  return (n - weekday + 3) / 7;
}

function monthNumber(d: LocalDate): number {
  return d.year * 12 + (d.month - 1);
}

export function decideRetention(runs: readonly RetainedRun[], rules: RetentionRules, nowMs: number, timeZone = 'UTC'): RetentionDecision {
  const newestFirst = [...runs].sort((a, b) => b.atMs - a.atMs || (a.id < b.id ? 1 : -1));
  const keep = new Map<string, KeepReason[]>();
  const mark = (id: string, why: KeepReason) => {
    const reasons = keep.get(id);
    if (reasons) reasons.push(why);
    else keep.set(id, [why]);
  };
  newestFirst.slice(0, rules.last).forEach((r) => mark(r.id, 'last'));

  const today = localDateOf(nowMs, timeZone);
  const calendars: { why: KeepReason; count: number; bucket: (d: LocalDate) => number; current: number }[] = [
    { why: 'daily', count: rules.daily, bucket: dayNumber, current: dayNumber(today) },
    { why: 'weekly', count: rules.weekly, bucket: weekNumber, current: weekNumber(today) },
    { why: 'monthly', count: rules.monthly, bucket: monthNumber, current: monthNumber(today) },
  ];
  for (const cal of calendars) {
    if (cal.count === 0) continue;
    const seen = new Set<number>();
    for (const r of newestFirst) {
      const b = cal.bucket(localDateOf(r.atMs, timeZone));
      if (seen.has(b)) continue;
      seen.add(b);
      if (cal.current - b < cal.count) mark(r.id, cal.why);
    }
  }
  return { keep, drop: newestFirst.filter((r) => !keep.has(r.id)).map((r) => r.id) };
}
