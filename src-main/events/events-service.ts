// events.list, events.metrics, events.links and apps.runtime: read-only views of what the nodes
// reported, from SQLite (they work while nodes are offline).
import { eq } from 'drizzle-orm';
import { ApiError } from '../api/contract';
import type { Handlers } from '../api/router';
import type { Db } from '../db/database';
import { apps } from '../db/schema';
import type { NodeStore } from '../nodes/node-store';
import { appRuntimes } from './app-runtime';
import type { EventLinkManager } from './event-link-manager';
import { toEventSummary, toMetricsPoint } from './event-link-manager';
import type { EventStore } from './event-store';

// 'restart.done', or a family without a dot: 'restart'.
const KIND_PATTERN = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/;

export interface EventsServiceDeps {
  db: Db;
  nodes: NodeStore;
  store: EventStore;
  links: Pick<EventLinkManager, 'status'>;
  nodeName: (nodeId: string) => string;
}

// Node ids to names, remembered: names do not change, and a removed node keeps its last name.
export function nodeNameCache(nodes: Pick<NodeStore, 'byId'>): (nodeId: string) => string {
  const names = new Map<string, string>();
  return (id) => {
    let name = names.get(id);
    if (name === undefined) {
      name = nodes.byId(id)?.name;
      if (name === undefined) return id;
      names.set(id, name);
    }
    return name;
  };
}

export function eventsHandlers(d: EventsServiceDeps): Pick<Handlers, 'events.list' | 'events.metrics' | 'events.links' | 'apps.runtime'> {
  const appExists = (name: string) => !!d.db.select({ id: apps.id }).from(apps).where(eq(apps.name, name)).get();

  return {
    'events.list': async (q) => {
      let nodeId: string | undefined;
      if (q.node !== undefined) {
        const row = d.nodes.byName(q.node) ?? d.nodes.byId(q.node);
        if (!row) throw new ApiError('not_found', `no node named '${q.node}'`, 'list nodes with `podploy node list`');
        nodeId = row.id;
      }
      for (const k of q.kinds ?? []) {
        if (!KIND_PATTERN.test(k)) {
          throw new ApiError('invalid_input', `event kind '${k}' is not a kind`, "give a kind such as 'restart.done', or a family such as 'restart' or 'crashloop'");
        }
      }
      if (q.app !== undefined && !appExists(q.app) && d.store.lastEventAt(q.app) === null) {
        throw new ApiError('not_found', `no app named '${q.app}' and no events of one`, 'list apps with `podploy app list`');
      }
      const rows = d.store.list({ nodeId, app: q.app, kinds: q.kinds, sinceMs: q.sinceMs, limit: q.limit, before: q.before });
      return rows.map((r) => toEventSummary(r, d.nodeName));
    },
    'events.metrics': async ({ app, sinceMs, limit }) => {
      if (!appExists(app)) throw new ApiError('not_found', `no app named '${app}'`, 'list apps with `podploy app list`');
      return d.store.metrics(app, sinceMs ?? 0, limit).map((m) => toMetricsPoint(m, d.nodeName));
    },
    'events.links': async () => d.links.status(),
    'apps.runtime': async ({ name }) => {
      const out = appRuntimes(d.db, d.store, d.nodeName, name);
      if (name !== undefined && !out.length) throw new ApiError('not_found', `no app named '${name}'`, 'list apps with `podploy app list`');
      return out;
    },
  };
}
