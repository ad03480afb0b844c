// backups.restore: a run back onto a node, into a new volume or database (default) or over the
// app's own (confirmed; the app is stopped, restored, redeployed and always started again).
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { CONTROL_PLANE_SOURCE } from '../../proto/backup-defaults';
import type { BackupProgress } from '../../proto/gen/podploy/agent/v1/agent';
import { ApiError, AppSpec, RestoreInput, type BackupProgressEvent } from '../api/contract';
import type { CallContext } from '../api/router';
import { SET_APP_RUNNING_MARGIN_MS } from '../apps/app-running-service';
import type { Db } from '../db/database';
import { apps, releases } from '../db/schema';
import { sealForNode } from '../secrets/node-seal';
import { nodeBackupKey } from './backup-keys';
import type { Backups } from './backups';
import { toWirePolicy } from './policy-push';
import { specOf, type PolicySpec } from './policy-store';
import type { RunRow } from './run-store';

export type RestoreRequest = ReturnType<typeof RestoreInput.parse>;
export interface RestoreOutcome {
  run: string;
  mode: 'new' | 'over';
  target: string;
  plainBytes: number;
  sha256: string;
  durationMs: number;
}

export interface RestoreDeps {
  db: Db;
  backups: Backups;
  // Deploys the app's live release again through the zero-downtime path.
  redeploy: (app: string, release: number, ctx: CallContext) => Promise<unknown>;
}

// What the agent says when a backup cannot be trusted (proto/backup/manifest.ts integrityErrorOf).
const INTEGRITY = /sealed with a different key|was altered|is truncated|out of order|not a sealed PodPloy backup|manifest|checksum|sha256/i;

export const shortRunId = (id: string): string => id.replace(/-/g, '').slice(0, 8);

export function defaultRestoreTarget(spec: PolicySpec, runId: string): string {
  const short = shortRunId(runId);
  const s = spec.source;
  switch (s.kind) {
    case 'volume':
      return `${s.volume}-restored-${short}`;
    case 'postgres':
    case 'mysql':
      return `${s.database}_restored_${short}`;
    case 'sqlite':
      return `${s.path}.restored-${short}`;
    default:
      return `restored-${short}`;
  }
}

function ownTarget(spec: PolicySpec): string {
  const s = spec.source;
  return s.kind === 'volume' ? s.volume : s.kind === 'postgres' || s.kind === 'mysql' ? s.database : s.kind === 'sqlite' ? s.path : '';
}

export async function restoreRun(d: RestoreDeps, input: RestoreRequest, ctx: CallContext, progress: (p: BackupProgressEvent) => void): Promise<RestoreOutcome> {
  const started = Date.now();
  const b = d.backups;
  const found = b.runs.find(input.run);
  if (!found) throw new ApiError('not_found', `no backup run '${input.run}'`, 'list runs with `podploy backup runs`');
  if ('ambiguous' in found) throw new ApiError('invalid_input', `'${input.run}' is the start of several run ids`, 'give more of the id (podploy backup runs --json)');
  const run: RunRow = found;
  if (run.sourceKind === CONTROL_PLANE_SOURCE) {
    throw new ApiError('invalid_input', `run ${run.id} is of PodPloy's own state; a running control plane cannot restore over itself`, 'restore it onto a fresh control plane: podploy state restore --destination FILE.json --run ' + run.id + ' --data DIR');
  }
  if (run.status !== 'ok') {
    const why = run.status === 'pruned' ? 'it was pruned by the retention rules' : run.status === 'running' ? 'it is still running' : `it failed (${run.error ?? 'no detail'})`;
    throw new ApiError('conflict', `run ${run.id} cannot be restored: ${why}`, 'pick a successful run (podploy backup runs)');
  }
  const policy = b.policies.byId(run.policyId);
  if (!policy) throw new ApiError('not_found', `the policy of run ${run.id} ('${run.policyName}') was removed, and with it its source and destinations`, 'set the policy again with the same name and destinations, then restore');
  const spec = specOf(policy);

  const okCopies = run.copies.filter((c) => c.ok && b.destinations.byId(c.destinationId));
  let copy = okCopies[0];
  if (input.destination) {
    const dest = b.destinations.require(input.destination);
    copy = okCopies.find((c) => c.destinationId === dest.id)!;
    if (!copy) throw new ApiError('not_found', `run ${run.id} has no copy on destination '${input.destination}'`, `its copies are on ${okCopies.map((c) => `'${b.destinationName(c.destinationId)}'`).join(', ') || 'no destination that still exists'}`);
  }
  if (!copy) throw new ApiError('not_found', `run ${run.id} has no copy on a destination that still exists`, 'set the destination again (same name) if it was removed');

  const appName = input.into ?? run.app;
  const app = appName ? d.db.select().from(apps).where(eq(apps.name, appName)).get() : undefined;
  if (!app) throw new ApiError('not_found', `no app named '${appName}' to restore into`, 'list apps with `podploy app list`');
  const into = !!input.into && input.into !== run.app;
  const mode = input.mode;
  let target: string;
  if (mode === 'over') {
    if (!input.confirm) {
      throw new ApiError('conflict', `restoring run ${shortRunId(run.id)} over app '${app.name}''s own ${spec.source.kind === 'volume' ? 'volume' : 'database'} replaces its data: nothing was changed`, 'confirm it: confirm: true (podploy backup restore RUN --over --yes); the app is stopped, restored and redeployed');
    }
    target = ownTarget(spec);
    if (spec.source.kind === 'volume' && into && !AppSpec.parse(app.spec).volumes.some((v) => v.name === target)) {
      throw new ApiError('invalid_input', `app '${app.name}' has no volume '${target}' to restore over`, 'restore into a new volume instead (without --over)');
    }
  } else {
    target = input.target ?? defaultRestoreTarget(spec, run.id);
  }

  const nodeId = app.nodeId;
  const nodeName = b.nodeName(nodeId);
  if (!b.d.fleet.isOnline(nodeId)) throw new ApiError('unreachable', `node '${nodeName}' of app '${app.name}' is offline; nothing was restored`, 'bring the node back (podploy node info) and restore again');
  const live = d.db.select().from(releases).where(eq(releases.appId, app.id)).all().find((r) => r.status === 'live');
  if (mode === 'over' && !live) throw new ApiError('invalid_input', `app '${app.name}' has no live release to redeploy after restoring over it`, 'restore into a new volume or database instead (without --over)');

  const seal = { vault: b.d.vault, nodes: b.d.nodes };
  let sealedBackupKey = Buffer.alloc(0);
  if (run.nodeId && run.nodeId !== nodeId) {
    const key = nodeBackupKey(b.d.masterKey, run.nodeId);
    sealedBackupKey = Buffer.from(sealForNode(seal, nodeId, key));
    key.fill(0);
  }
  const restoreBackup = {
    policy: toWirePolicy(policy, { destinations: b.destinations, seal }, nodeId),
    runId: run.id,
    destinationId: copy.destinationId,
    restoreId: randomUUID(),
    mode,
    targetName: target,
    sealedBackupKey,
    targetApp: into ? app.name : '',
  };
  const actor = b.actor(ctx);
  const conn = await b.d.fleet.link(nodeId).connection();
  const toEvent = (p: BackupProgress): BackupProgressEvent => ({ phase: p.phase, plainBytes: Number(p.plainBytes), sealedBytes: Number(p.sealedBytes), message: p.message });
  const setRunning = async (running: boolean) =>
    conn.execute({ actor, setAppRunning: { app: app.name, running } }, undefined, AppSpec.parse(app.spec).stopGraceMs + SET_APP_RUNNING_MARGIN_MS);

  const restore = async () => {
    const final = await conn.backup({ restoreBackup }, actor, (p) => progress(toEvent(p)));
    if (!final.ok) {
      const error = final.error || 'the restore failed';
      throw new ApiError(INTEGRITY.test(error) ? 'integrity' : 'agent_failed', `restoring run ${shortRunId(run.id)} on node '${nodeName}' failed: ${error}`, mode === 'new' ? `nothing was left behind; ${target} was not created` : undefined);
    }
    return final;
  };

  if (mode === 'new') {
    const final = await restore();
    return { run: run.id, mode, target, plainBytes: Number(final.plainBytes), sha256: final.run?.plainSha256 || run.sha256 || '', durationMs: Date.now() - started };
  }

  progress({ phase: 'stopping', plainBytes: 0, sealedBytes: 0, message: `stopping ${app.name}` });
  await setRunning(false);
  let final: BackupProgress | undefined;
  let restoreError: unknown;
  try {
    final = await restore();
  } catch (err) {
    restoreError = err;
  }
  progress({ phase: 'redeploying', plainBytes: Number(final?.plainBytes ?? 0), sealedBytes: 0, message: `redeploying ${app.name} v${live!.number}` });
  try {
    await d.redeploy(app.name, live!.number, ctx);
  } catch (err) {
    await setRunning(true).catch(() => undefined);
    if (!restoreError) {
      throw new ApiError('deploy_failed', `run ${shortRunId(run.id)} was restored over '${app.name}', but redeploying v${live!.number} failed: ${(err as Error).message}`, 'the app was started again on its release; deploy it again (podploy deploy ' + app.name + ')');
    }
  }
  if (restoreError) throw restoreError;
  return { run: run.id, mode, target, plainBytes: Number(final!.plainBytes), sha256: final!.run?.plainSha256 || run.sha256 || '', durationMs: Date.now() - started };
}
