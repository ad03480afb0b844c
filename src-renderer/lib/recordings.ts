// Terminal recordings as the Recordings page shows them: the filter (node, app, user, time
// range; kept in the address), the query it sends, the live list (merged from the topics), and
// the words for each column. Pure; unit-tested in recordings.spec.ts.
import type { InputOf, RecordingSummary } from '../../src-main/api/contract';
import { CONTAINER_SHELL, DEFAULT_RECORDING_RETENTION_DAYS } from '../../proto/terminal-defaults';

export const RECORDINGS_PAGE_LIMIT = 500;

export const TIME_RANGES = [
  { key: '1h', label: 'Last hour', ms: 3_600_000 },
  { key: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { key: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { key: '30d', label: 'Last 30 days', ms: 30 * 86_400_000 },
  { key: 'all', label: 'All time', ms: null },
] as const;
export type TimeRangeKey = (typeof TIME_RANGES)[number]['key'];

export interface RecordingsFilter {
  node: string;
  app: string;
  user: string;
  range: TimeRangeKey;
}

export const EMPTY_FILTER: RecordingsFilter = { node: '', app: '', user: '', range: 'all' };

// "node=n1&app=web&user=alice&range=24h" (the part after "?" in #/recordings?...).
export function parseRecordingsFilter(search: string): RecordingsFilter {
  const p = new URLSearchParams(search.replace(/^\?/, ''));
  const range = p.get('range');
  return {
    node: p.get('node')?.trim() ?? '',
    app: p.get('app')?.trim() ?? '',
    user: p.get('user')?.trim() ?? '',
    range: TIME_RANGES.some((r) => r.key === range) ? (range as TimeRangeKey) : 'all',
  };
}

export function formatRecordingsFilter(f: RecordingsFilter): string {
  const p = new URLSearchParams();
  if (f.node.trim()) p.set('node', f.node.trim());
  if (f.app.trim()) p.set('app', f.app.trim());
  if (f.user.trim()) p.set('user', f.user.trim());
  if (f.range !== 'all') p.set('range', f.range);
  return p.toString();
}

export function sinceOf(f: RecordingsFilter, now: number): number | undefined {
  const ms = TIME_RANGES.find((r) => r.key === f.range)?.ms;
  return ms ? now - ms : undefined;
}

export function recordingsQuery(f: RecordingsFilter, now: number): InputOf<'recordings.list'> {
  const q: InputOf<'recordings.list'> = { limit: RECORDINGS_PAGE_LIMIT };
  if (f.node.trim()) q.node = f.node.trim();
  if (f.app.trim()) q.app = f.app.trim();
  if (f.user.trim()) q.actor = f.user.trim();
  const since = sinceOf(f, now);
  if (since !== undefined) q.sinceMs = since;
  return q;
}

// Whether a recording announced on the topic belongs in the filtered list.
export function recordingMatches(r: RecordingSummary, f: RecordingsFilter, now: number): boolean {
  if (f.node.trim() && r.node !== f.node.trim()) return false;
  if (f.app.trim() && r.app !== f.app.trim()) return false;
  if (f.user.trim() && r.actor !== f.user.trim()) return false;
  const since = sinceOf(f, now);
  return since === undefined || r.startedAt >= since;
}

// Newest first; a repeated id replaces the older copy.
export function mergeRecordings(list: readonly RecordingSummary[], incoming: readonly RecordingSummary[], max = RECORDINGS_PAGE_LIMIT): RecordingSummary[] {
  const byId = new Map(list.map((r) => [r.id, r]));
  for (const r of incoming) byId.set(r.id, r);
  return [...byId.values()].sort((a, b) => b.startedAt - a.startedAt || a.id.localeCompare(b.id)).slice(0, max);
}

// "web / podploy-web-v3" or "node shell".
export function recordingTarget(r: Pick<RecordingSummary, 'app' | 'container'>): string {
  if (!r.container) return 'node shell';
  return r.app ? `${r.app} / ${r.container}` : r.container;
}

// The app alone (its container in a tooltip); a node shell says so.
export function recordingTargetShort(r: Pick<RecordingSummary, 'app' | 'container'>): string {
  if (!r.container) return 'node shell';
  return r.app ?? r.container;
}

// Shell-like quoting for one line: the login shell reads "login shell", the agent's default
// container shell "shell".
export function commandLabel(command: readonly string[]): string {
  if (!command.length) return 'login shell';
  if (command.length === CONTAINER_SHELL.length && command.every((a, i) => a === CONTAINER_SHELL[i])) return 'shell';
  return command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

// A live session's duration runs on the clock.
export function recordingDurationMs(r: Pick<RecordingSummary, 'state' | 'startedAt' | 'durationMs' | 'endedAt'>, now: number): number | null {
  if (r.durationMs !== null) return r.durationMs;
  if (r.endedAt !== null) return r.endedAt - r.startedAt;
  return r.state === 'live' ? Math.max(0, now - r.startedAt) : null;
}

export function exitLabel(r: Pick<RecordingSummary, 'state' | 'exitCode'>): string {
  if (r.state === 'live') return '';
  return r.exitCode === null ? '—' : String(r.exitCode);
}

// "90 days (default)", "30 days (default 90 days)", "kept forever (default 90 days)".
export function retentionLabel(days: number): string {
  const text = days === 0 ? 'kept forever' : `${days} ${days === 1 ? 'day' : 'days'}`;
  return days === DEFAULT_RECORDING_RETENTION_DAYS ? `${text} (default)` : `${text} (default ${DEFAULT_RECORDING_RETENTION_DAYS} days)`;
}
