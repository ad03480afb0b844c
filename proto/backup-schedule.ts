// Backup schedules: cron expressions (croner's syntax: 5 or 6 fields, or @daily-style nicknames)
// in an IANA time zone. Shared by the control plane (validation, next runs shown in the UI) and
// the agent (which runs them, also while the control plane is closed).
import { Cron } from 'croner';

export const DEFAULT_BACKUP_TIMEZONE = 'UTC';
export const MAX_SCHEDULES_PER_POLICY = 16;
// A schedule firing more often than this is refused: a backup is not a heartbeat.
export const MIN_SCHEDULE_INTERVAL_MS = 5 * 60_000;

function cronOf(expression: string, timeZone: string): Cron {
  return new Cron(expression, { paused: true, timezone: timeZone });
}

// Empty when every expression is a valid schedule in that zone; otherwise one line per problem,
// naming the expression and croner's reason.
export function scheduleProblems(expressions: readonly string[], timeZone = DEFAULT_BACKUP_TIMEZONE, nowMs = Date.now()): string[] {
  const out: string[] = [];
  if (!timeZoneValid(timeZone)) out.push(`time zone '${timeZone}' is not an IANA time zone (e.g. UTC, Europe/Paris, America/New_York)`);
  if (expressions.length === 0) out.push('a policy needs at least one schedule (a cron expression such as "0 3 * * *")');
  if (expressions.length > MAX_SCHEDULES_PER_POLICY) out.push(`at most ${MAX_SCHEDULES_PER_POLICY} schedules per policy, got ${expressions.length}`);
  if (out.length > 0) return out;
  for (const expr of expressions) {
    let runs: Date[];
    try {
      runs = cronOf(expr, timeZone).nextRuns(3, new Date(nowMs));
    } catch (err) {
      out.push(`schedule "${expr}" is not a valid cron expression: ${(err as Error).message.replace(/^CronPattern: /, '')}`);
      continue;
    }
    if (runs.length === 0) {
      out.push(`schedule "${expr}" never fires`);
      continue;
    }
    const gaps = runs.slice(1).map((d, i) => d.getTime() - runs[i].getTime());
    if (gaps.some((g) => g < MIN_SCHEDULE_INTERVAL_MS)) out.push(`schedule "${expr}" fires more often than every ${MIN_SCHEDULE_INTERVAL_MS / 60_000} minutes`);
  }
  return out;
}

// The next `count` run times of all the expressions together, in order, without duplicates.
export function nextRunTimes(expressions: readonly string[], timeZone: string, fromMs: number, count: number): number[] {
  const all = new Set<number>();
  for (const expr of expressions) for (const d of cronOf(expr, timeZone).nextRuns(count, new Date(fromMs))) all.add(d.getTime());
  return [...all].sort((a, b) => a - b).slice(0, count);
}

function timeZoneValid(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}
