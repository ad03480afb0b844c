// backups.*: the API of backups. Every change is audited; secrets never leave in a reply.
import { openDestination } from '../../proto/backup/destinations/open-destination';
import { DestinationError } from '../../proto/backup/destinations/errors';
import { ApiError } from '../api/contract';
import type { Handlers } from '../api/router';
import type { Backups } from './backups';
import { assertPolicyValid } from './policy-validation';
import { BackupPolicyInput } from '../api/contract';
import { isControlPlanePolicy } from './policy-store';
import { restoreRun, shortRunId, type RestoreDeps } from './restore';

type BackupHandlers = Pick<
  Handlers,
  | 'backups.destinations.list'
  | 'backups.destinations.set'
  | 'backups.destinations.remove'
  | 'backups.destinations.test'
  | 'backups.policies.list'
  | 'backups.policies.set'
  | 'backups.policies.remove'
  | 'backups.run'
  | 'backups.runs'
  | 'backups.restore'
>;

export interface BackupServiceDeps {
  backups: Backups;
  secretNames: (appId: string) => string[];
  redeploy: RestoreDeps['redeploy'];
}

export function backupHandlers(s: BackupServiceDeps): BackupHandlers {
  const b = s.backups;
  const audit = b.d.audit;

  // The nodes whose policies changed get their whole set again; every changed policy is published.
  async function pushNodes(nodeIds: Iterable<string | null>, actor: string): Promise<void> {
    for (const id of new Set(nodeIds)) {
      if (!id) continue;
      await b.pusher.push(id, actor);
      for (const p of b.policies.onNode(id)) b.publishPolicy(p.id);
    }
  }

  return {
    'backups.destinations.list': async () => b.destinations.all().map((r) => b.destinations.summary(r)),

    'backups.destinations.set': async (input, ctx) =>
      audit.around(
        ctx,
        'backup.destination.set',
        input.name,
        async () => {
          const { row, replaced } = b.destinations.set(input, b.actor(ctx));
          const using = b.policies.using(row.name);
          for (const p of using) b.policies.bump(p.id);
          await pushNodes(using.map((p) => p.nodeId), b.actor(ctx));
          return { summary: b.destinations.summary(row), replaced, policies: using.length };
        },
        (r) => `${r.replaced ? 'replaced' : 'added'} ${r.summary.kind} destination (${r.summary.where})${r.summary.secrets.length ? `; secrets ${r.summary.secrets.join(', ')} sealed` : ''}${r.policies ? `; ${r.policies} policies pushed again` : ''}`,
      ).then((r) => r.summary),

    'backups.destinations.remove': async ({ name }, ctx) =>
      audit.around(ctx, 'backup.destination.remove', name, async () => {
        const row = b.destinations.require(name);
        const using = b.policies.using(name);
        if (using.length) {
          throw new ApiError('conflict', `destination '${name}' is used by ${using.map((p) => `policy '${p.name}'`).join(', ')}; nothing was removed`, 'change those policies to other destinations (or remove them) first');
        }
        b.destinations.delete(row.id);
        return { name };
      }),

    'backups.destinations.test': async ({ name, node }, ctx) => {
      const row = b.destinations.require(name);
      const started = Date.now();
      const nodeRow = node ? b.d.nodes.require(node) : (() => {
        const user = b.policies.using(name).find((p) => p.nodeId);
        return user ? b.d.nodes.byId(user.nodeId!) : null;
      })();
      if (nodeRow) {
        if (!b.d.fleet.isOnline(nodeRow.id)) throw new ApiError('unreachable', `node '${nodeRow.name}' is offline; the destination was not tested`, 'bring the node back, or test from another node (--node)');
        const conn = await b.d.fleet.link(nodeRow.id).connection();
        try {
          const res = await conn.execute({ actor: b.actor(ctx), testBackupDestination: { destination: b.destinations.wireFor(row, { vault: b.d.vault, nodes: b.d.nodes }, nodeRow.id) } });
          return { ok: res.ok, from: `node ${nodeRow.name}`, message: res.message, durationMs: Date.now() - started };
        } catch (err) {
          return { ok: false, from: `node ${nodeRow.name}`, message: (err as Error).message, durationMs: Date.now() - started };
        }
      }
      try {
        const destination = await openDestination(b.destinations.config(row));
        try {
          const r = await destination.test();
          return { ok: true, from: 'control plane', message: r.detail, durationMs: Date.now() - started };
        } finally {
          await destination.close().catch(() => undefined);
        }
      } catch (err) {
        const step = err instanceof DestinationError && err.step ? `${err.step} failed: ` : '';
        return { ok: false, from: 'control plane', message: `${step}${(err as Error).message}`, durationMs: Date.now() - started };
      }
    },

    'backups.policies.list': async ({ app }) => {
      const now = Date.now();
      return b.policies
        .all()
        .filter((p) => !app || p.app === app)
        .map((p) => b.policySummary(p, now));
    },

    'backups.policies.set': async (input, ctx) =>
      audit.around(
        ctx,
        'backup.policy.set',
        input.name,
        async () => {
          const spec = BackupPolicyInput.parse(input);
          const target = assertPolicyValid(spec, { db: b.d.db, destinations: b.destinations, secretNames: s.secretNames });
          const { row, previous } = b.policies.save(spec, target.nodeId);
          await pushNodes([previous?.nodeId ?? null, row.nodeId], b.actor(ctx));
          if (isControlPlanePolicy(row) || (previous && isControlPlanePolicy(previous))) b.scheduler.reload();
          const summary = b.policySummary(b.policies.byId(row.id)!);
          b.d.publishPolicy(summary);
          return summary;
        },
        (p) => `${p.source.kind}${p.app ? ` of ${p.app}` : ''} to ${p.destinations.join(', ')}, ${p.schedules.join(' | ')} ${p.timezone}${p.node ? (p.pushed ? `; pushed to ${p.node}` : `; not pushed yet: ${p.pushError}`) : ''}`,
      ),

    'backups.policies.remove': async ({ name }, ctx) =>
      audit.around(ctx, 'backup.policy.remove', name, async () => {
        const row = b.policies.require(name);
        b.policies.delete(row.id);
        await pushNodes([row.nodeId], b.actor(ctx));
        if (isControlPlanePolicy(row)) b.scheduler.reload();
        return { name };
      }),

    'backups.run': async ({ policy }, ctx, progress) =>
      audit.around(
        ctx,
        'backup.run',
        policy,
        async () => b.runSummary(await b.runNow(policy, ctx, progress)),
        (r) => `run ${shortRunId(r.id)} ${r.status}${r.error ? `: ${r.error}` : ''}`,
      ),

    'backups.runs': async ({ policy, app, limit }) => {
      const policyId = policy ? b.policies.require(policy).id : undefined;
      return b.runs.list({ policyId, app, limit }).map((r) => b.runSummary(r));
    },

    'backups.restore': async (input, ctx, progress) =>
      audit.around(
        ctx,
        'backup.restore',
        input.run,
        () => restoreRun({ db: b.d.db, backups: b, redeploy: s.redeploy }, input, ctx, progress),
        (r) => `${r.mode === 'over' ? 'over' : 'into'} ${r.target}: ${r.plainBytes} bytes, sha256 ${r.sha256.slice(0, 12)}`,
      ),
  };
}
