import { randomUUID } from 'node:crypto';
import { and, desc, eq, ne } from 'drizzle-orm';
import { DeployApp } from '../../proto/gen/podploy/agent/v1/agent';
import { ApiError, AppSpec, type DeployProgress, type ReleaseSummary } from '../api/contract';
import type { CallContext, Handlers } from '../api/router';
import type { Fleet } from '../agents/fleet';
import type { AuditLog } from '../audit';
import type { Db } from '../db/database';
import { apps, releases } from '../db/schema';
import type { NodeStore } from '../nodes/node-store';
import { toReleaseSummary } from './app-service';
import type { ReleaseSecrets } from '../secrets/release-secrets';
import type { PullAuth } from '../registries/registry-auth';

export const DEPLOY_STEPS = 6;

export interface DeployServiceDeps {
  db: Db;
  nodes: NodeStore;
  fleet: Fleet;
  audit: AuditLog;
  onAppChanged: (name: string) => void;
  // The app's secrets: the version a release records, sealed for the node at deploy time.
  secrets?: ReleaseSecrets;
  // Registry credentials for pulling `image` on the node, sealed for it (registries/registry-auth.ts).
  pullAuth?: (image: string, nodeId: string) => PullAuth;
}

// The tag a git build of release N gets on the node (the release records it and its digest).
export const gitImageTag = (app: string, release: number): string => `localhost/podploy-${app}:r${release}`;

// A deploy makes an immutable release (image + configuration) and asks the node's agent, with a
// signed command, to run it through the zero-downtime path. Rollback deploys an earlier release's
// image and configuration the same way.
export function deployHandlers(d: DeployServiceDeps): Pick<Handlers, 'apps.deploy' | 'apps.rollback'> {
  const busy = new Set<string>();

  async function deploy(
    appName: string,
    pick: (app: typeof apps.$inferSelect) => { spec: AppSpec; image: string; note: string; secretVersion: number; digest?: string },
    ctx: CallContext,
    progress: (p: DeployProgress) => void,
  ): Promise<ReleaseSummary> {
    const app = d.db.select().from(apps).where(eq(apps.name, appName)).get();
    if (!app) throw new ApiError('not_found', `no app named '${appName}'`, 'list apps with `podploy app list`');
    if (busy.has(app.id)) throw new ApiError('conflict', `a deploy of '${appName}' is in progress`, 'wait for it to finish; deploys of one app run one at a time');
    const node = d.nodes.byId(app.nodeId)!;
    if (!d.fleet.isOnline(node.id)) {
      throw new ApiError('unreachable', `node '${node.name}' is offline; nothing was deployed`, 'bring the node back (podploy node info) and deploy again');
    }
    const { spec, image, note, secretVersion, digest } = pick(app);
    // Sealed before anything is recorded: a node that cannot receive secrets changes nothing.
    const sealedSecrets = d.secrets?.sealFor(app.id, secretVersion, node.id) ?? Buffer.alloc(0);
    // A git app's deploy builds on the node; a rollback (image given) runs the image built then.
    const git = spec.source.kind === 'git' && !image ? { url: spec.source.url, ref: spec.source.ref, containerfile: spec.source.containerfile } : undefined;
    const pullAuth = git ? undefined : d.pullAuth?.(image, node.id);
    busy.add(app.id);
    const last = d.db.select().from(releases).where(eq(releases.appId, app.id)).orderBy(desc(releases.number)).get();
    const number = (last?.number ?? 0) + 1;
    const imageRef = git ? gitImageTag(app.name, number) : image;
    const release = d.db
      .insert(releases)
      .values({
        id: randomUUID(),
        appId: app.id,
        number,
        imageRef,
        spec,
        secretVersion,
        status: 'deploying',
        createdBy: `${ctx.actor} (${ctx.source})${note ? `, ${note}` : ''}`,
        createdAt: Date.now(),
      })
      .returning()
      .get();
    d.onAppChanged(app.name);
    try {
      const conn = await d.fleet.link(node.id).connection();
      const final = await conn.deploy({ ...toDeployApp(app.name, release.id, imageRef, spec), sealedSecrets, ...(git ? { git } : {}), ...(digest ? { imageDigest: digest } : {}), ...pullAuth }, `${ctx.actor} (${ctx.source})`, (e) =>
        progress({
          release: number,
          step: e.step,
          total: DEPLOY_STEPS,
          name: e.name,
          state: e.state as DeployProgress['state'],
          message: e.message,
          ...(e.durationMs ? { durationMs: e.durationMs } : {}),
        }),
      );
      if (!final.ok) {
        d.db.update(releases).set({ status: 'failed', failedStep: final.failedStep, reason: final.reason, finishedAt: Date.now() }).where(eq(releases.id, release.id)).run();
        throw new ApiError('deploy_failed', `release v${number} of ${app.name} failed at ${final.failedStep || 'an early step'}: ${final.reason}`, 'the previous release keeps serving');
      }
      d.db
        .update(releases)
        .set({ status: 'superseded' })
        .where(and(eq(releases.appId, app.id), eq(releases.status, 'live'), ne(releases.id, release.id)))
        .run();
      const done = d.db
        .update(releases)
        .set({ status: 'live', imageDigest: final.imageDigest || null, finishedAt: Date.now() })
        .where(eq(releases.id, release.id))
        .returning()
        .get();
      if (spec.source.kind === 'image' && image !== (AppSpec.parse(app.spec).source as { image?: string }).image) {
        d.db.update(apps).set({ spec: { ...AppSpec.parse(app.spec), source: { kind: 'image', image } }, updatedAt: Date.now() }).where(eq(apps.id, app.id)).run();
      }
      return toReleaseSummary(done);
    } catch (err) {
      const row = d.db.select().from(releases).where(eq(releases.id, release.id)).get();
      if (row?.status === 'deploying') {
        const reason = err instanceof Error ? err.message : String(err);
        d.db.update(releases).set({ status: 'failed', reason, finishedAt: Date.now() }).where(eq(releases.id, release.id)).run();
      }
      throw err;
    } finally {
      busy.delete(app.id);
      d.onAppChanged(app.name);
    }
  }

  return {
    'apps.deploy': async ({ name, image }, ctx, progress) =>
      d.audit.around(
        ctx,
        'app.deploy',
        name,
        () =>
          deploy(
            name,
            (app) => {
              const spec = AppSpec.parse(app.spec);
              const ref = image ?? (spec.source.kind === 'image' ? spec.source.image : '');
              return { spec: image ? { ...spec, source: { kind: 'image', image } } : spec, image: ref, note: '', secretVersion: d.secrets?.currentVersion(app.id) ?? 0 };
            },
            ctx,
            progress,
          ),
        (r) => `v${r.number} live (${r.imageRef}${r.imageDigest ? ` ${r.imageDigest.slice(0, 19)}` : ''})`,
      ),
    'apps.rollback': async ({ name, to }, ctx, progress) =>
      d.audit.around(
        ctx,
        'app.rollback',
        name,
        () =>
          deploy(
            name,
            (app) => {
              const all = d.db.select().from(releases).where(eq(releases.appId, app.id)).orderBy(desc(releases.number)).all();
              const live = all.find((r) => r.status === 'live');
              const target = to
                ? all.find((r) => r.number === to)
                : all.find((r) => r.status === 'superseded' && (!live || r.number < live.number));
              if (!target) throw new ApiError('not_found', to ? `app '${name}' has no release v${to}` : `app '${name}' has no earlier release to roll back to`, 'see `podploy releases NAME`');
              if (target.status === 'failed') throw new ApiError('invalid_input', `release v${target.number} failed; roll back to one that was live`);
              return { spec: AppSpec.parse(target.spec), image: target.imageRef, note: `rollback to v${target.number}`, secretVersion: target.secretVersion, digest: target.imageDigest ?? undefined };
            },
            ctx,
            progress,
          ),
        (r) => `v${r.number} live (${r.createdBy})`,
      ),
  };
}

export function toDeployApp(app: string, releaseId: string, image: string, spec: AppSpec): DeployApp {
  const h = spec.health;
  return DeployApp.fromPartial({
    app,
    release: releaseId,
    image,
    command: spec.command,
    env: spec.env,
    port: spec.port,
    domains: spec.domains,
    health: {
      kind: h.kind,
      path: h.path,
      intervalMs: h.intervalMs,
      timeoutMs: h.timeoutMs,
      healthyThreshold: h.healthyThreshold,
      unhealthyThreshold: h.unhealthyThreshold,
      startPeriodMs: h.startPeriodMs,
      deadlineMs: h.deadlineMs,
    },
    cpus: spec.cpus ?? 0,
    memoryMb: spec.memoryMb ?? 0,
    stopGraceMs: spec.stopGraceMs,
    drainMs: spec.drainMs,
    volumes: spec.volumes.map((v) => ({ name: v.name, path: v.path })),
    keepReleases: spec.keepReleases,
    // Every field explicit: a release carries the settings it was made with, defaults included.
    restart: { ...spec.restart },
    ...(spec.liveness ? { liveness: { ...spec.liveness } } : {}),
  });
}
