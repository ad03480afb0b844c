// The control plane's side of backups: what it stores (destinations, policies, runs), what it
// tells the nodes (their policies, signed), what it hears back (backup.* events, ListBackupRuns
// after a link comes up), and its own state's backups on its own schedule.
import { randomUUID } from 'node:crypto';
import { CONTROL_PLANE_SOURCE } from '../../proto/backup-defaults';
import { nextRunTimes } from '../../proto/backup-schedule';
import type { BackupProgress } from '../../proto/gen/podploy/agent/v1/agent';
import { ApiError, type BackupPolicySummary, type BackupProgressEvent, type BackupRunSummary, type NodeEventSummary } from '../api/contract';
import type { CallContext } from '../api/router';
import type { Fleet } from '../agents/fleet';
import type { AuditLog } from '../audit';
import type { Vault } from '../crypto/vault';
import type { Db } from '../db/database';
import type { NodeStore } from '../nodes/node-store';
import { runControlPlaneBackup } from './control-plane-backup';
import { ControlPlaneScheduler } from './control-plane-scheduler';
import { DestinationStore } from './destination-store';
import { PolicyPusher } from './policy-push';
import { isControlPlanePolicy, PolicyStore, specOf, type PolicyRow } from './policy-store';
import { runPatchFromEvent } from './run-events';
import { RunStore, runPatchFromWire, runSummary, type RunPatch, type RunRow } from './run-store';

export const NEXT_RUNS_SHOWN = 3;
// A manual run streams progress for as long as the data takes; its signed command only has to
// reach the agent in time.
export const RUN_COMMAND_TTL_MS = 60_000;

export interface BackupsDeps {
  db: Db;
  vault: Vault;
  masterKey: Uint8Array;
  dataDir: string;
  nodes: NodeStore;
  fleet: Pick<Fleet, 'isOnline' | 'link'>;
  audit: AuditLog;
  writer: string;
  publishRun: (r: BackupRunSummary) => void;
  publishPolicy: (p: BackupPolicySummary) => void;
  log: (msg: string, extra?: Record<string, unknown>) => void;
}

export class Backups {
  readonly destinations: DestinationStore;
  readonly policies: PolicyStore;
  readonly runs: RunStore;
  readonly pusher: PolicyPusher;
  readonly scheduler: ControlPlaneScheduler;

  constructor(readonly d: BackupsDeps) {
    this.destinations = new DestinationStore(d.db, d.vault);
    this.policies = new PolicyStore(d.db);
    this.runs = new RunStore(d.db);
    this.pusher = new PolicyPusher({ policies: this.policies, destinations: this.destinations, nodes: d.nodes, seal: { vault: d.vault, nodes: d.nodes }, masterKey: d.masterKey, fleet: d.fleet });
    this.scheduler = new ControlPlaneScheduler({
      policies: () => this.policies.controlPlane(),
      run: (policy, trigger, attempt) => this.runControlPlane(policy, trigger, attempt),
      log: d.log,
    });
  }

  start(): void {
    this.scheduler.start();
  }

  stop(): void {
    this.scheduler.stop();
  }

  actor(ctx: CallContext): string {
    return `${ctx.actor} (${ctx.source})`;
  }

  nodeName = (id: string): string => this.d.nodes.byId(id)?.name ?? id;
  destinationName = (id: string): string => this.destinations.byId(id)?.name ?? id;

  runSummary(row: RunRow): BackupRunSummary {
    return runSummary(row, { node: this.nodeName, destination: this.destinationName });
  }

  policySummary(row: PolicyRow, now = Date.now()): BackupPolicySummary {
    const spec = specOf(row);
    const last = this.runs.latest(row.id);
    const controlPlane = spec.source.kind === CONTROL_PLANE_SOURCE;
    return {
      id: row.id,
      name: row.name,
      app: row.app,
      node: row.nodeId ? this.nodeName(row.nodeId) : null,
      source: spec.source,
      schedules: spec.schedules,
      timezone: spec.timezone,
      destinations: spec.destinations,
      retention: spec.retention,
      retryAttempts: spec.retryAttempts,
      retryDelayMs: spec.retryDelayMs,
      enabled: spec.enabled,
      nextRuns: spec.enabled ? nextRunTimes(spec.schedules, spec.timezone, now, NEXT_RUNS_SHOWN) : [],
      lastRun: last ? this.runSummary(last) : null,
      pushed: controlPlane || row.pushedVersion === row.version,
      pushError: controlPlane ? null : (row.pushError ?? null),
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  }

  publishPolicy(id: string): void {
    const row = this.policies.byId(id);
    if (row) this.d.publishPolicy(this.policySummary(row));
  }

  // Records what is known about a run and tells the subscribers; returns the row as stored.
  recordRun(p: RunPatch): RunRow | null {
    const policy = this.policies.byId(p.policyId);
    const existing = this.runs.byId(p.id);
    if (!policy && !existing && !p.policyName) return null;
    const defaults = {
      policyName: policy?.name ?? p.policyName ?? p.policyId,
      app: policy?.app ?? p.app ?? null,
      nodeId: policy?.nodeId ?? p.nodeId ?? null,
      sourceKind: policy ? specOf(policy).source.kind : (p.sourceKind ?? 'unknown'),
    };
    const row = this.runs.upsert(p, defaults);
    if (row) {
      this.d.publishRun(this.runSummary(row));
      if (policy) this.d.publishPolicy(this.policySummary(policy));
    }
    return row ?? this.runs.byId(p.id);
  }

  // events.appended: the node's backup.* events, as they arrive.
  onEvent(e: NodeEventSummary): void {
    const patch = runPatchFromEvent(e);
    if (!patch) return;
    const nodeId = this.d.nodes.byName(e.node)?.id ?? null;
    this.recordRun({ ...patch, ...(nodeId ? { nodeId } : {}) });
  }

  // A node's link came up: it gets its policies if it missed a change, and its record of runs
  // fills in what the events did not bring (the control plane was closed, events were lost).
  async onLinkUp(nodeId: string): Promise<void> {
    if (this.pusher.stale(nodeId)) {
      await this.pusher.push(nodeId);
      for (const p of this.policies.onNode(nodeId)) this.publishPolicy(p.id);
    }
    if (!this.policies.onNode(nodeId).length) return;
    try {
      const conn = await this.d.fleet.link(nodeId).connection();
      const { runs } = await conn.listBackupRuns();
      for (const r of [...runs].reverse()) this.recordRun(runPatchFromWire(r, nodeId));
    } catch (err) {
      this.d.log('could not read the backup runs of a node', { node: this.nodeName(nodeId), error: err instanceof Error ? err.message : String(err) });
    }
  }

  runControlPlane(policy: PolicyRow, trigger: RunRow['trigger'], attempt: number, onProgress?: (p: BackupProgressEvent) => void): Promise<RunRow> {
    return runControlPlaneBackup(
      {
        db: this.d.db,
        dataDir: this.d.dataDir,
        masterKey: this.d.masterKey,
        destinations: this.destinations,
        runs: this.runs,
        writer: this.d.writer,
        runChanged: (row) => {
          this.d.publishRun(this.runSummary(row));
          this.publishPolicy(policy.id);
        },
        log: this.d.log,
      },
      policy,
      { trigger, attempt, onProgress },
    );
  }

  // backups.run: now, on the node (signed run_backup through the Backup RPC) or here.
  async runNow(name: string, ctx: CallContext, progress: (p: BackupProgressEvent) => void): Promise<RunRow> {
    const policy = this.policies.require(name);
    if (isControlPlanePolicy(policy)) {
      const row = await this.scheduler.runExclusive(policy, 'manual', 1, (p, t, a) => this.runControlPlane(p, t, a, progress));
      if (!row) throw new ApiError('conflict', `a backup of policy '${name}' is running already`, 'wait for it to finish (podploy backup runs --policy ' + name + ')');
      return row;
    }
    const nodeId = policy.nodeId!;
    if (!this.d.fleet.isOnline(nodeId)) {
      throw new ApiError('unreachable', `node '${this.nodeName(nodeId)}' of policy '${name}' is offline; nothing was run`, 'bring the node back (podploy node info); its own schedule runs the policy meanwhile');
    }
    if (this.pusher.stale(nodeId)) {
      const pushed = await this.pusher.push(nodeId, this.actor(ctx));
      this.publishPolicy(policy.id);
      if (!pushed.ok) throw new ApiError('agent_failed', `${pushed.error}; nothing was run`, 'fix what is named, then run the backup again');
    }
    const runId = randomUUID();
    const conn = await this.d.fleet.link(nodeId).connection();
    const toEvent = (p: BackupProgress): BackupProgressEvent => ({ phase: p.phase, plainBytes: Number(p.plainBytes), sealedBytes: Number(p.sealedBytes), message: p.message });
    const final = await conn.backup({ runBackup: { policyId: policy.id, runId } }, this.actor(ctx), (p) => progress(toEvent(p)), RUN_COMMAND_TTL_MS);
    const patch: RunPatch = final.run
      ? runPatchFromWire(final.run, nodeId)
      : { id: final.runId || runId, policyId: policy.id, nodeId, status: final.ok ? 'ok' : 'failed', trigger: 'manual', finishedAt: Date.now(), error: final.ok ? null : final.error || 'the backup failed' };
    const row = this.recordRun(patch);
    if (!row) throw new ApiError('internal', `the agent reported run ${patch.id} of an unknown policy`);
    return row;
  }
}
