// Node events as the timelines show them: their order, the compact figures of their data, and
// the filter an operator types ("app:web kind:restart died"). Pure; unit-tested in events.spec.ts.
import type { InputOf, NodeEventSummary } from '../../src-main/api/contract';
import { NODE_EVENT_KINDS } from '../../proto/node-events';
import { formatBytes, formatDuration } from './format';

export type EventsListInput = InputOf<'events.list'>;

// How many events a timeline keeps in memory; older ones are paged in on demand.
export const TIMELINE_MAX = 500;
// How many a timeline loads at first and per "Load older".
export const TIMELINE_PAGE = 100;

// Newest first: by time, then by the node's own order (events of one node may share a ms).
export function compareEvents(a: NodeEventSummary, b: NodeEventSummary): number {
  return b.atMs - a.atMs || (a.node === b.node ? b.seq - a.seq : a.node.localeCompare(b.node)) || a.id.localeCompare(b.id);
}

// Merges new events into a newest-first list: a repeated id changes nothing, at most `max` kept.
export function mergeEvents(list: readonly NodeEventSummary[], incoming: readonly NodeEventSummary[], max = TIMELINE_MAX): NodeEventSummary[] {
  const seen = new Set<string>();
  const all = [...list, ...incoming].filter((e) => !seen.has(e.id) && (seen.add(e.id), true));
  return all.sort(compareEvents).slice(0, max);
}

// ---- figures ----

// Known data keys, shown first and in words; any other key shows as "key value".
const FIGURES: Record<string, (v: string | number | boolean) => string> = {
  exitCode: (v) => `exit ${v}`,
  signal: (v) => String(v),
  attempt: (v) => `attempt ${v}`,
  delayMs: (v) => `delay ${shortDuration(Number(v))}`,
  restarts: (v) => `${v} ${v === 1 ? 'restart' : 'restarts'}`,
  failures: (v) => `${v} ${v === 1 ? 'failure' : 'failures'}`,
  status: (v) => `HTTP ${v}`,
  oomKilled: (v) => (v ? 'OOM killed' : ''),
};

// An event's data as short texts: "exit 137", "delay 2.0 s", "attempt 3", "uptimeMs 4.2 s".
export function eventFigures(data: NodeEventSummary['data'], max = 4): string[] {
  if (!data) return [];
  // "2/3 failures": a probe's failures in a row against its threshold.
  if (typeof data.failures === 'number' && typeof data.threshold === 'number') {
    const { failures, threshold, ...rest } = data;
    return [`${failures}/${threshold} failures`, ...eventFigures(rest, max - 1)].slice(0, max);
  }
  const keys = Object.keys(data).filter((k) => data[k] !== null && data[k] !== '' && data[k] !== false);
  const known = keys.filter((k) => k in FIGURES);
  const rest = keys.filter((k) => !(k in FIGURES)).sort();
  const out: string[] = [];
  for (const k of [...Object.keys(FIGURES).filter((k) => known.includes(k)), ...rest]) {
    const v = data[k] as string | number | boolean;
    const text = k in FIGURES ? FIGURES[k](v) : figure(k, v);
    if (text) out.push(text);
    if (out.length === max) break;
  }
  return out;
}

// 0 ms, 850 ms, 2.0 s, 45 s, 1 min, 4m 30s.
export function shortDuration(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : formatDuration(ms);
}

function figure(key: string, v: string | number | boolean): string {
  if (v === true) return key;
  if (typeof v === 'number' && /Ms$/.test(key)) return `${key.slice(0, -2)} ${shortDuration(v)}`;
  if (typeof v === 'number' && /Bytes$/.test(key)) return `${key.slice(0, -5)} ${formatBytes(v)}`;
  const s = String(v);
  return `${key} ${s.length > 40 ? `${s.slice(0, 39)}…` : s}`;
}

// ---- filter ----

export interface EventFilter {
  node: string[];
  app: string[];
  // Kind prefixes: "restart" matches restart.scheduled, restart.done and restart.failed.
  kind: string[];
  severity: string[];
  // Words every event's message (or kind, app, node) must contain, case-insensitively.
  words: string[];
}

const FILTER_KEYS = ['node', 'app', 'kind', 'severity'] as const;

// "app:web kind:restart,crashloop oom" -> the filter; "key:" with an unknown key is a word.
export function parseEventFilter(text: string): EventFilter {
  const f: EventFilter = { node: [], app: [], kind: [], severity: [], words: [] };
  for (const token of text.trim().split(/\s+/)) {
    if (!token) continue;
    const m = /^([a-z]+):(.*)$/i.exec(token);
    const key = m?.[1].toLowerCase() as (typeof FILTER_KEYS)[number] | undefined;
    if (m && key && (FILTER_KEYS as readonly string[]).includes(key)) {
      for (const v of m[2].split(',')) if (v) f[key].push(v.toLowerCase());
    } else {
      f.words.push(token.toLowerCase());
    }
  }
  return f;
}

export function isEmptyFilter(f: EventFilter): boolean {
  return FILTER_KEYS.every((k) => f[k].length === 0) && f.words.length === 0;
}

function kindMatches(kind: string, prefixes: string[]): boolean {
  return prefixes.some((p) => kind === p || kind.startsWith(p.endsWith('.') ? p : `${p}.`));
}

export function eventMatches(e: NodeEventSummary, f: EventFilter): boolean {
  if (f.node.length && !f.node.includes(e.node.toLowerCase())) return false;
  if (f.app.length && !(e.app && f.app.includes(e.app.toLowerCase()))) return false;
  if (f.kind.length && !kindMatches(e.kind, f.kind)) return false;
  if (f.severity.length && !f.severity.includes(e.severity)) return false;
  if (f.words.length) {
    const hay = `${e.kind} ${e.message} ${e.app ?? ''} ${e.node} ${eventFigures(e.data, 99).join(' ')}`.toLowerCase();
    if (!f.words.every((w) => hay.includes(w))) return false;
  }
  return true;
}

// The part of a filter the control plane can apply (one node, one app, whole kinds), so that
// older matching events are fetched rather than only the newest page filtered here.
export function filterQuery(f: EventFilter): Partial<EventsListInput> {
  const q: Partial<EventsListInput> = {};
  if (f.node.length === 1) q.node = f.node[0];
  if (f.app.length === 1) q.app = f.app[0];
  if (f.kind.length) {
    const kinds = NODE_EVENT_KINDS.filter((k) => kindMatches(k, f.kind));
    // A prefix that names no known kind goes as written: the agent may know kinds this UI does not.
    q.kinds = kinds.length ? [...kinds] : f.kind;
  }
  return q;
}

// The kinds, grouped by their first word, for the filter's suggestions.
export function kindGroups(): string[] {
  return [...new Set(NODE_EVENT_KINDS.map((k) => k.split('.')[0]))];
}

// Whether a live event belongs to a timeline's server query (the same test the control plane
// applies to events.list).
export function queryMatches(e: NodeEventSummary, q: Partial<EventsListInput>): boolean {
  if (q.node !== undefined && e.node !== q.node) return false;
  if (q.app !== undefined && e.app !== q.app) return false;
  if (q.kinds?.length && !q.kinds.includes(e.kind)) return false;
  return true;
}
