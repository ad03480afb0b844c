import { randomUUID } from 'node:crypto';
import { desc, eq } from 'drizzle-orm';
import { ApiError, AppSpec, type AppSummary, type ReleaseSummary } from '../api/contract';
import type { Handlers } from '../api/router';
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
}

export function toReleaseSummary(r: ReleaseRow): ReleaseSummary {
  const { appId: _a, spec: _s, secretVersion: _v, ...rest } = r;
  return { ...rest, imageDigest: r.imageDigest ?? null, failedStep: r.failedStep ?? null, reason: r.reason ?? null, finishedAt: r.finishedAt ?? null };
}

// Apps: declared once, validated against the contract's AppSpec, bound to one node.
export function appHandlers(d: AppServiceDeps): Pick<Handlers, 'apps.create' | 'apps.list' | 'apps.get' | 'apps.releases' | 'apps.delete'> {
  const byName = (name: string) => d.db.select().from(apps).where(eq(apps.name, name)).get() ?? null;
  const requireApp = (name: string) => {
    const row = byName(name);
    if (!row) throw new ApiError('not_found', `no app named '${name}'`, 'list apps with `podploy app list`');
    return row;
  };
  const summary = (row: AppRow) => appSummary(d.db, d.nodes, row);

  return {
    'apps.create': async ({ spec }, ctx) =>
      d.audit.around(ctx, 'app.create', spec.name, async () => {
        if (byName(spec.name)) throw new ApiError('conflict', `an app named '${spec.name}' exists already`, 'choose another name');
        const node = d.nodes.byName(spec.node);
        if (!node) throw new ApiError('not_found', `no node named '${spec.node}'`, 'list nodes with `podploy node list`');
        const taken = new Map<string, string>();
        for (const other of d.db.select().from(apps).all()) for (const dom of AppSpec.parse(other.spec).domains) taken.set(dom, other.name);
        for (const dom of spec.domains) {
          if (taken.has(dom)) throw new ApiError('conflict', `the domain ${dom} is already routed to app '${taken.get(dom)}'`, 'a domain serves one app');
        }
        const now = Date.now();
        const row = d.db.insert(apps).values({ id: randomUUID(), name: spec.name, nodeId: node.id, spec, createdAt: now, updatedAt: now }).returning().get();
        const s = summary(row);
        d.publishChanged(s);
        return s;
      }),
    'apps.list': async () => d.db.select().from(apps).orderBy(apps.name).all().map(summary),
    'apps.get': async ({ name }) => summary(requireApp(name)),
    // Apps have no deployed containers yet (deploys come next), so deleting is the declaration.
    'apps.delete': async ({ name }, ctx) =>
      d.audit.around(ctx, 'app.delete', name, async () => {
        const app = requireApp(name);
        const deployed = d.db.select().from(releases).where(eq(releases.appId, app.id)).all().some((r) => r.status === 'live' || r.status === 'deploying');
        if (deployed) throw new ApiError('conflict', `app '${name}' has a live release`, 'stop it before deleting');
        d.db.delete(apps).where(eq(apps.id, app.id)).run();
        d.publishDeleted(name);
        return { deleted: name };
      }),
    'apps.releases': async ({ name }) => {
      const app = requireApp(name);
      return d.db.select().from(releases).where(eq(releases.appId, app.id)).orderBy(desc(releases.number)).all().map(toReleaseSummary);
    },
  };
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
