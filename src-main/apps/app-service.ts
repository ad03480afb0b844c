import { randomUUID } from 'node:crypto';
import { desc, eq } from 'drizzle-orm';
import { ApiError, AppSpec, type AppSummary, type ReleaseSummary } from '../api/contract';
import type { Handlers } from '../api/router';
import type { Fleet } from '../agents/fleet';
import type { AuditLog } from '../audit';
import type { Db } from '../db/database';
import { apps, releases } from '../db/schema';
import type { NodeStore } from '../nodes/node-store';

type AppRow = typeof apps.$inferSelect;
type ReleaseRow = typeof releases.$inferSelect;

export interface AppServiceDeps {
  db: Db;
  nodes: NodeStore;
  audit: AuditLog;
  publishChanged: (a: AppSummary) => void;
  publishDeleted: (name: string) => void;
  // Reaches the app's node for RemoveApp; absent: apps that were deployed cannot be deleted.
  fleet?: Pick<Fleet, 'isOnline' | 'link'>;
}

// Stopping an app's containers waits for their stop grace (SIGTERM, then SIGKILL).
export const REMOVE_APP_DEADLINE_MS = 120_000;

export function toReleaseSummary(r: ReleaseRow): ReleaseSummary {
  const { appId: _a, spec: _s, ...rest } = r;
  return { ...rest, imageDigest: r.imageDigest ?? null, failedStep: r.failedStep ?? null, reason: r.reason ?? null, finishedAt: r.finishedAt ?? null };
}

// Apps: declared once, validated against the contract's AppSpec, bound to one node.
export function appHandlers(d: AppServiceDeps): Pick<Handlers, 'apps.create' | 'apps.list' | 'apps.get' | 'apps.releases' | 'apps.delete' | 'apps.update'> {
  const byName = (name: string) => d.db.select().from(apps).where(eq(apps.name, name)).get() ?? null;
  const requireApp = (name: string) => {
    const row = byName(name);
    if (!row) throw new ApiError('not_found', `no app named '${name}'`, 'list apps with `podploy app list`');
    return row;
  };
  const summary = (row: AppRow) => appSummary(d.db, d.nodes, row);
  // A domain serves one app: refuses any of `domains` that another app routes already.
  const refuseTakenDomains = (domains: string[], self: string | null) => {
    const taken = new Map<string, string>();
    for (const other of d.db.select().from(apps).all()) {
      if (other.name === self) continue;
      for (const dom of AppSpec.parse(other.spec).domains) taken.set(dom, other.name);
    }
    for (const dom of domains) {
      if (taken.has(dom)) throw new ApiError('conflict', `the domain ${dom} is already routed to app '${taken.get(dom)}'`, 'a domain serves one app');
    }
  };

  return {
    'apps.create': async ({ spec }, ctx) =>
      d.audit.around(ctx, 'app.create', spec.name, async () => {
        if (byName(spec.name)) throw new ApiError('conflict', `an app named '${spec.name}' exists already`, 'choose another name');
        const node = d.nodes.byName(spec.node);
        if (!node) throw new ApiError('not_found', `no node named '${spec.node}'`, 'list nodes with `podploy node list`');
        refuseTakenDomains(spec.domains, null);
        const now = Date.now();
        const row = d.db.insert(apps).values({ id: randomUUID(), name: spec.name, nodeId: node.id, spec, createdAt: now, updatedAt: now }).returning().get();
        const s = summary(row);
        d.publishChanged(s);
        return s;
      }),
    // The whole configuration is replaced (what the caller sends is what the next deploy uses);
    // the name and the node identify the app and stay.
    'apps.update': async ({ spec, name = spec.name }, ctx) =>
      d.audit.around(
        ctx,
        'app.update',
        name,
        async () => {
          const row = requireApp(name);
          if (spec.name !== name) {
            throw new ApiError('invalid_input', `an update cannot rename app '${name}' to '${spec.name}'`, `keep "name": "${name}", or create a new app named '${spec.name}'`);
          }
          const node = d.nodes.byId(row.nodeId);
          if (node && spec.node !== node.name) {
            throw new ApiError('invalid_input', `app '${spec.name}' runs on node '${node.name}'; an update cannot move it to '${spec.node}'`, `keep "node": "${node.name}", or create a new app on '${spec.node}'`);
          }
          refuseTakenDomains(spec.domains, spec.name);
          const before = AppSpec.parse(row.spec);
          const updated = d.db.update(apps).set({ spec, updatedAt: Date.now() }).where(eq(apps.id, row.id)).returning().get();
          const s = summary(updated);
          d.publishChanged(s);
          return { summary: s, changed: changedKeys(before, spec) };
        },
        (r) => (r.changed.length ? `changed ${r.changed.join(', ')}; the next deploy applies it` : 'no change'),
      ).then((r) => r.summary),
    'apps.list': async () => d.db.select().from(apps).orderBy(apps.name).all().map(summary),
    'apps.get': async ({ name }) => summary(requireApp(name)),
    // An app that was ever deployed is removed from its node first (RemoveApp: containers,
    // route, images; volumes only when asked); an offline node changes nothing. The rows of its
    // releases and secret versions go with the app (ON DELETE CASCADE).
    'apps.delete': async ({ name, removeVolumes = false }, ctx) =>
      d.audit.around(
        ctx,
        'app.delete',
        name,
        async () => {
          const app = requireApp(name);
          const node = d.nodes.byId(app.nodeId);
          const deployed = d.db.select().from(releases).where(eq(releases.appId, app.id)).all();
          let removedFromNode: string | null = null;
          if (deployed.length > 0) {
            if (deployed.some((r) => r.status === 'deploying')) throw new ApiError('conflict', `a deploy of '${name}' is in progress; nothing was deleted`, 'wait for it to finish, then delete again');
            if (!node || !d.fleet || !d.fleet.isOnline(node.id)) {
              throw new ApiError('unreachable', `node '${node?.name ?? app.nodeId}' of app '${name}' is offline; nothing was deleted`, 'bring the node back (podploy node info) and delete again');
            }
            const conn = await d.fleet.link(node.id).connection();
            const res = await conn.execute({ actor: `${ctx.actor} (${ctx.source})`, removeApp: { app: name, removeVolumes } }, undefined, REMOVE_APP_DEADLINE_MS);
            removedFromNode = res.message;
          }
          d.db.delete(apps).where(eq(apps.id, app.id)).run();
          d.publishDeleted(name);
          return { deleted: name, node: node?.name ?? null, removedFromNode };
        },
        (r) => (r.removedFromNode ? `node ${r.node}: ${r.removedFromNode}` : 'never deployed: nothing on the node'),
      ),
    'apps.releases': async ({ name }) => {
      const app = requireApp(name);
      return d.db.select().from(releases).where(eq(releases.appId, app.id)).orderBy(desc(releases.number)).all().map(toReleaseSummary);
    },
  };
}

// The top-level configuration keys whose values differ ("health", "env"...), for the audit log:
// it names what changed, never values (env values may be sensitive).
export function changedKeys(before: AppSpec, after: AppSpec): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)] as (keyof AppSpec)[]);
  return [...keys].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).sort();
}

export function appSummary(db: Db, nodes: NodeStore, row: AppRow): AppSummary {
  const node = nodes.byId(row.nodeId);
  const live = db.select().from(releases).where(eq(releases.appId, row.id)).orderBy(desc(releases.number)).all().find((r) => r.status === 'live');
  return { ...row, node: node?.name ?? '?', spec: AppSpec.parse(row.spec), currentRelease: live ? toReleaseSummary(live) : null };
}

export function appSummaryByName(db: Db, nodes: NodeStore, name: string): AppSummary | null {
  const row = db.select().from(apps).where(eq(apps.name, name)).get();
  return row ? appSummary(db, nodes, row) : null;
}

export function appsOnNode(db: Db, nodeId: string): string[] {
  return db.select({ name: apps.name }).from(apps).where(eq(apps.nodeId, nodeId)).all().map((a) => a.name);
}
