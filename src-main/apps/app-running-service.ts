// Stopping an app on purpose and starting it again: a signed SetAppRunning to its node, whose
// agent keeps the wish in its desired state (Lazarus does not restart an app stopped on purpose).
import { desc, eq } from 'drizzle-orm';
import { ApiError, type AppSummary } from '../api/contract';
import type { Handlers } from '../api/router';
import type { Fleet } from '../agents/fleet';
import type { AuditLog } from '../audit';
import type { Db } from '../db/database';
import { apps, releases } from '../db/schema';
import type { NodeStore } from '../nodes/node-store';
import { appSummary } from './app-service';

// Stopping waits for the container's stop grace (SIGTERM, then SIGKILL) on the node.
export const SET_APP_RUNNING_MARGIN_MS = 15_000;

export interface AppRunningDeps {
  db: Db;
  nodes: NodeStore;
  audit: AuditLog;
  fleet: Pick<Fleet, 'isOnline' | 'link'>;
}

export function appRunningHandlers(d: AppRunningDeps): Pick<Handlers, 'apps.stop' | 'apps.start'> {
  async function setRunning(name: string, running: boolean, ctx: Parameters<Handlers['apps.stop']>[1]): Promise<{ summary: AppSummary; node: string; message: string }> {
    const verb = running ? 'start' : 'stop';
    const app = d.db.select().from(apps).where(eq(apps.name, name)).get();
    if (!app) throw new ApiError('not_found', `no app named '${name}'`, 'list apps with `podploy app list`');
    const all = d.db.select().from(releases).where(eq(releases.appId, app.id)).orderBy(desc(releases.number)).all();
    if (all.some((r) => r.status === 'deploying')) {
      throw new ApiError('conflict', `a deploy of '${name}' is in progress; nothing was changed`, `wait for it to finish, then ${verb} again`);
    }
    if (!all.some((r) => r.status === 'live')) {
      throw new ApiError('invalid_input', `app '${name}' has no live release; there is nothing to ${verb}`, `deploy it first: podploy deploy ${name}`);
    }
    const node = d.nodes.byId(app.nodeId);
    if (!node || !d.fleet.isOnline(node.id)) {
      throw new ApiError('unreachable', `node '${node?.name ?? app.nodeId}' of app '${name}' is offline; nothing was changed`, `bring the node back (podploy node info) and ${verb} again`);
    }
    const summary = appSummary(d.db, d.nodes, app);
    const conn = await d.fleet.link(node.id).connection();
    const res = await conn.execute(
      { actor: `${ctx.actor} (${ctx.source})`, setAppRunning: { app: name, running } },
      undefined,
      summary.spec.stopGraceMs + SET_APP_RUNNING_MARGIN_MS,
    );
    return { summary, node: node.name, message: res.message };
  }

  const detail = (r: { node: string; message: string }) => `node ${r.node}: ${r.message}`;
  return {
    'apps.stop': async ({ name }, ctx) => (await d.audit.around(ctx, 'app.stop', name, () => setRunning(name, false, ctx), detail)).summary,
    'apps.start': async ({ name }, ctx) => (await d.audit.around(ctx, 'app.start', name, () => setRunning(name, true, ctx), detail)).summary,
  };
}
