// What Lazarus last reported about an app, folded from its stored events: restarts since the
// app's last deploy, crash-looping, stopped on purpose, probe state.
import { and, desc, eq } from 'drizzle-orm';
import type { AppRuntime } from '../api/contract';
import type { Db } from '../db/database';
import { apps, releases } from '../db/schema';
import type { EventStore } from './event-store';

// Kinds that say the container went down / came back; the newest of them decides 'restarting'.
const DOWN_KINDS = ['container.died', 'container.oom', 'restart.scheduled', 'restart.failed'] as const;
const UP_KINDS = ['container.started', 'container.recreated', 'restart.done'] as const;
// Kinds whose arrival can change an app's runtime.
export const RUNTIME_KINDS: ReadonlySet<string> = new Set([
  ...DOWN_KINDS,
  ...UP_KINDS,
  'crashloop.entered',
  'crashloop.left',
  'app.stopped',
  'app.started',
  'probe.failing',
  'probe.passing',
]);

type Latest = Map<string, { atMs: number; seq: number }>;

// a happened after b (by time, then the node's order); an absent event happened never.
function after(latest: Latest, a: string, b: string): boolean {
  const x = latest.get(a);
  if (!x) return false;
  const y = latest.get(b);
  return !y || x.atMs > y.atMs || (x.atMs === y.atMs && x.seq > y.seq);
}

function newestOf(latest: Latest, kinds: readonly string[]): string | null {
  let best: string | null = null;
  for (const k of kinds) if (latest.has(k) && (best === null || after(latest, k, best))) best = k;
  return best;
}

// When the app's live release finished deploying (control-plane clock); 0 when never deployed.
export function lastDeployAt(db: Db, appId: string): number {
  const live = db
    .select({ finishedAt: releases.finishedAt, createdAt: releases.createdAt })
    .from(releases)
    .where(and(eq(releases.appId, appId), eq(releases.status, 'live')))
    .orderBy(desc(releases.number))
    .get();
  return live ? (live.finishedAt ?? live.createdAt) : 0;
}

export function foldRuntime(store: EventStore, app: { name: string; node: string }, deployedAtMs: number): AppRuntime {
  const all = store.latestOfKinds(app.name, [...RUNTIME_KINDS]);
  // Crash loops and probe results belong to the running release: a deploy starts them afresh.
  const current = store.latestOfKinds(app.name, ['crashloop.entered', 'crashloop.left', 'probe.failing', 'probe.passing'], deployedAtMs);
  const lastEventAtMs = store.lastEventAt(app.name);
  const stopped = after(all, 'app.stopped', 'app.started');
  const crashLooping = after(current, 'crashloop.entered', 'crashloop.left');
  const probe = newestOf(current, ['probe.failing', 'probe.passing']);
  const lastChange = newestOf(all, [...DOWN_KINDS, ...UP_KINDS]);
  const down = lastChange !== null && (DOWN_KINDS as readonly string[]).includes(lastChange);
  const state: AppRuntime['state'] =
    lastEventAtMs === null ? 'unknown' : stopped ? 'stopped' : crashLooping ? 'crash-looping' : down ? 'restarting' : 'running';
  return {
    app: app.name,
    node: app.node,
    state,
    crashLooping,
    restarts: store.countKind(app.name, 'restart.done', deployedAtMs),
    lastRestartAtMs: all.get('restart.done')?.atMs ?? null,
    lastEventAtMs,
    probe: probe === 'probe.failing' ? 'failing' : probe === 'probe.passing' ? 'passing' : 'none',
  };
}

// Every app (or one), with the node's name, folded.
export function appRuntimes(db: Db, store: EventStore, nodeName: (nodeId: string) => string, name?: string): AppRuntime[] {
  const rows = name ? db.select().from(apps).where(eq(apps.name, name)).all() : db.select().from(apps).orderBy(apps.name).all();
  return rows.map((a) => foldRuntime(store, { name: a.name, node: nodeName(a.nodeId) }, lastDeployAt(db, a.id)));
}
