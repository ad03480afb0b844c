// Backup schedules in words: "every day at 03:00 UTC" for a cron expression, and run times in the
// policy's time zone. Covers the common shapes (fixed times, every N minutes/hours, weekdays,
// days of the month, months, croner's @nicknames); anything else reads as null and the UI shows
// the expression with its next runs. Validation stays with proto/backup-schedule.ts (the
// server's own function, so its reason is exactly the server's). Pure; backup-cron.spec.ts.

const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAY_ALIASES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MONTH_ALIASES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

// The values a field lists, or null when it is not a plain list/range of numbers (or names).
function listValues(field: string, min: number, max: number, aliases: readonly string[] = []): number[] | null {
  const out = new Set<number>();
  for (const part of field.split(',')) {
    const m = /^([a-z0-9]+)(?:-([a-z0-9]+))?$/i.exec(part);
    if (!m) return null;
    const from = valueOf(m[1], aliases);
    const to = m[2] === undefined ? from : valueOf(m[2], aliases);
    if (from === null || to === null || from > to || from < min || to > max) return null;
    for (let v = from; v <= to; v++) out.add(v);
  }
  return [...out].sort((a, b) => a - b);
}

function valueOf(token: string, aliases: readonly string[]): number | null {
  if (/^\d+$/.test(token)) return Number(token);
  const i = aliases.indexOf(token.toLowerCase());
  return i >= 0 ? i : null;
}

const pad = (n: number) => String(n).padStart(2, '0');

export function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${s}`;
}

// "a", "a and b", "a, b and c".
export function joinWords(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

// The time part, or null. The day part decides whether "every day" is said.
function describeTime(minute: string, hour: string): string | null {
  if (minute === '*' && hour === '*') return 'every minute';
  const minStep = /^\*\/(\d+)$/.exec(minute);
  if (minStep && hour === '*') return Number(minStep[1]) === 1 ? 'every minute' : `every ${Number(minStep[1])} minutes`;
  const minutes = listValues(minute, 0, 59);
  if (!minutes) return null;
  const at = joinWords(minutes.map((m) => `:${pad(m)}`));
  if (hour === '*') return `every hour at ${at}`;
  const hourStep = /^(?:\*|0)\/(\d+)$/.exec(hour);
  if (hourStep) {
    const n = Number(hourStep[1]);
    return n === 1 ? `every hour at ${at}` : `every ${n} hours at ${at}`;
  }
  const hours = listValues(hour, 0, 23);
  if (!hours) return null;
  const times = hours.flatMap((h) => minutes.map((m) => `${pad(h)}:${pad(m)}`));
  if (times.length > 6) return null;
  return `at ${joinWords(times)}`;
}

function describeWeekdays(days: number[]): string {
  const set = [...new Set(days.map((d) => d % 7))].sort((a, b) => a - b);
  if (set.length === 7) return 'every day';
  if (set.join() === '1,2,3,4,5') return 'every weekday (Monday to Friday)';
  if (set.join() === '0,6') return 'every Saturday and Sunday';
  return `every ${joinWords(set.map((d) => DAY_NAMES[d]))}`;
}

// The day part ("every day", "every Monday", "on the 1st of every month", ...), or null.
function describeDays(dom: string, month: string, dow: string): string | null {
  const anyDom = dom === '*' || dom === '?';
  const anyDow = dow === '*' || dow === '?';
  const anyMonth = month === '*';
  const months = anyMonth ? null : listValues(month, 1, 12, ['', ...MONTH_ALIASES]);
  if (!anyMonth && !months) return null;
  const monthText = months ? joinWords(months.map((m) => MONTH_NAMES[m - 1])) : null;
  if (anyDom && anyDow) return monthText ? `every day in ${monthText}` : 'every day';
  if (!anyDom && !anyDow) return null; // croner's OR of the two: said wrongly too easily
  if (!anyDow) {
    const days = listValues(dow, 0, 7, DAY_ALIASES);
    if (!days) return null;
    return monthText ? `${describeWeekdays(days)} in ${monthText}` : describeWeekdays(days);
  }
  const doms = listValues(dom, 1, 31);
  if (!doms) return null;
  const which = `the ${joinWords(doms.map(ordinal))}`;
  return monthText ? `on ${which} of ${monthText}` : `on ${which} of every month`;
}

// "every day at 03:00 UTC"; null when the expression is not one of the shapes said in words.
export function describeCron(expression: string, timeZone: string): string | null {
  const raw = expression.trim().toLowerCase();
  const expr = NICKNAMES[raw] ?? raw;
  let fields = expr.split(/\s+/);
  if (fields.length === 6) {
    if (fields[0] !== '0') return null;
    fields = fields.slice(1);
  }
  if (fields.length !== 5) return null;
  const [minute, hour, dom, month, dow] = fields;
  const time = describeTime(minute, hour);
  const days = describeDays(dom, month, dow);
  if (!time || !days) return null;
  const when = time.startsWith('at ') ? `${days} ${time}` : days === 'every day' ? time : `${days}, ${time}`;
  return `${when} ${timeZone}`;
}

// "2025-03-04 03:00 UTC": an absolute time in the policy's zone (the zone its cron is read in).
export function formatZoned(ms: number, timeZone: string, withZone = true): string {
  try {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
        .formatToParts(new Date(ms))
        .map((p) => [p.type, p.value]),
    );
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}${withZone ? ` ${timeZone}` : ''}`;
  } catch {
    return new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + (withZone ? ' UTC' : '');
  }
}
