// The node's backups as one part of the agent: the signed policies (policy-store), their
// schedules (scheduler), runs and restores, the run index, and the recovery of runs an agent
// that stopped mid-run left behind. server.ts and commands.ts call into this.
import type { KeyObject } from 'node:crypto';
import type { DestinationConfig } from '../../proto/backup/destinations/destination-config';
import type { BackupDestination } from '../../proto/backup/destinations/destination';
import { DestinationError, errorText } from '../../proto/backup/destinations/errors';
import { openDestination } from '../../proto/backup/destinations/open-destination';
import { checkPolicies, openDestinationConfig, BackupPoliciesRefused, type NodePolicy } from './policies';
import type { BackupProgress, BackupRun, CommandEnvelope, ListBackupRunsRequest, RestoreBackup, RunBackup, SignedCommand, TestBackupDestination } from '../../proto/gen/podploy/agent/v1/agent';
import type { NodeEventSink } from '../../proto/node-events';
import type { AppView } from '../logs-rpc';
import type { Logger } from '../logger';
import type { PodmanClient } from '../podman/client';
import { BackupPolicyStore } from './policy-store';
import { finalMessage, type ProgressSink } from './progress';
import { restoreBackup } from './restore-backup';
import { describeSource, failInterruptedRuns, runBackup, type RunnerDeps, type RunTrigger } from './run-backup';
import { BackupRunIndex, type RecordedRun } from './run-index';
import { BackupScheduler } from './scheduler';

export interface NodeBackupsDeps {
  nodeId: string;
  stateDir: string;
  commandKey: KeyObject;
  podman: PodmanClient;
  apps: AppView;
  // Opens what the control plane sealed for this node (backup key, destination credentials).
  openSealed: (sealed: Uint8Array) => Uint8Array;
  events?: NodeEventSink;
  log: Logger;
  // Tests only, never from the wire: schedules may fire more often than every 5 minutes.
  allowFrequentSchedules?: boolean;
  now?: () => number;
  openDestination?: (config: DestinationConfig) => Promise<BackupDestination>;
}

export class NodeBackups {
  readonly index: BackupRunIndex;
  readonly scheduler: BackupScheduler;
  private readonly store: BackupPolicyStore;
  // policy id -> the id of its run in progress
  private readonly running = new Map<string, string>();
  private readonly runner: RunnerDeps;

  constructor(private readonly deps: NodeBackupsDeps) {
    this.index = new BackupRunIndex(deps.stateDir);
    this.store = new BackupPolicyStore(deps.stateDir, deps.commandKey, deps.nodeId, this.checkOptions(), deps.log);
    this.runner = { nodeId: deps.nodeId, podman: deps.podman, apps: deps.apps, index: this.index, events: deps.events, log: deps.log, now: deps.now, openDestination: deps.openDestination };
    this.scheduler = new BackupScheduler({ run: (p, trigger, attempt) => this.runExclusive(p, trigger, attempt), events: deps.events, log: deps.log });
  }

  // Fails and cleans the runs a stopped agent left "running", then starts the schedules.
  async start(): Promise<void> {
    const failed = await failInterruptedRuns(this.store.get().policies, this.runner);
    if (failed.length) this.deps.log.warn({ event: 'backup_interrupted_runs', runs: failed.map((r) => r.id) }, `${failed.length} backup run(s) cut by the agent's stop marked failed`);
    this.scheduler.replace(this.store.get().policies);
  }

  stop(): void {
    this.scheduler.stop();
  }

  policies(): NodePolicy[] {
    return this.store.get().policies;
  }

  // A verified set_backup_policies: checked, stored, scheduled. Throws BackupPoliciesRefused.
  setPolicies(signed: SignedCommand, envelope: CommandEnvelope): string {
    const { policies } = this.store.replace(signed, envelope);
    this.scheduler.replace(policies);
    const enabled = policies.filter((p) => p.enabled).length;
    return `backup policies set: ${policies.length} (${enabled} scheduled)`;
  }

  // "Test connection" from this node; ok false says which step failed.
  async testDestination(wire: TestBackupDestination): Promise<{ ok: boolean; message: string }> {
    if (!wire.destination) throw new BackupPoliciesRefused('test_backup_destination carries no destination');
    let config: DestinationConfig;
    try {
      config = openDestinationConfig(wire.destination, this.deps.openSealed).config;
    } catch (err) {
      throw new BackupPoliciesRefused(`destination ${JSON.stringify(wire.destination.name || wire.destination.id)} refused: ${(err as Error).message}`);
    }
    let destination: BackupDestination | undefined;
    try {
      destination = await (this.deps.openDestination ?? openDestination)(config);
      const result = await destination.test();
      return { ok: true, message: `node ${this.deps.nodeId}: ${result.detail}` };
    } catch (err) {
      const step = err instanceof DestinationError && err.step ? err.step : 'open';
      return { ok: false, message: `node ${this.deps.nodeId}: the test of ${destination?.where ?? wire.destination.name} failed at step "${step}": ${errorText(err)}` };
    } finally {
      await destination?.close().catch(() => undefined);
    }
  }

  // A signed run_backup: the final progress message (ok or not).
  async runNow(wire: RunBackup, onProgress?: ProgressSink): Promise<BackupProgress> {
    const policy = this.store.get().policies.find((p) => p.id === wire.policyId);
    const runId = wire.runId;
    if (!policy) return finalMessage(runId, false, 'refused', { phase: 'refused', error: `node ${this.deps.nodeId} has no backup policy ${wire.policyId}: push the policies to the node again` });
    const result = await this.runExclusive(policy, 'manual', 1, runId, onProgress);
    if (result === 'busy') {
      return finalMessage(runId, false, 'refused', { phase: 'refused', error: `node ${this.deps.nodeId}: policy ${policy.name} is running already (run ${this.running.get(policy.id)}); wait for it to finish` });
    }
    return finalOf(result, policy);
  }

  // A signed restore_backup: the final progress message (ok or not).
  async restore(wire: RestoreBackup, onProgress?: ProgressSink): Promise<BackupProgress> {
    const id = wire.restoreId || wire.runId;
    let policy: NodePolicy;
    let key: Uint8Array;
    try {
      if (!wire.policy) throw new BackupPoliciesRefused('restore_backup carries no policy');
      const checked = checkPolicies({ policies: [wire.policy], sealedBackupKey: wire.sealedBackupKey.length ? wire.sealedBackupKey : Buffer.alloc(0) }, { ...this.checkOptions(), allowFrequentSchedules: true, keyOptional: true });
      policy = checked.policies[0];
      const own = this.store.get().key;
      key = checked.key ?? (own as Uint8Array);
      if (!key) throw new BackupPoliciesRefused(`node ${this.deps.nodeId} holds no backup key yet (no policies were pushed): send the key with the restore`);
      if (wire.mode && wire.mode !== 'new' && wire.mode !== 'over') throw new BackupPoliciesRefused(`restore mode "${wire.mode}" is not "new" or "over"`);
    } catch (err) {
      return finalMessage(id, false, 'refused', { phase: 'refused', error: `node ${this.deps.nodeId}: ${errorText(err)}` });
    }
    return restoreBackup(
      { policy, runId: wire.runId, restoreId: id, destinationId: wire.destinationId, mode: wire.mode === 'over' ? 'over' : 'new', targetName: wire.targetName, ...(wire.targetApp ? { targetApp: wire.targetApp } : {}), key, onProgress },
      { nodeId: this.deps.nodeId, podman: this.deps.podman, apps: this.deps.apps, events: this.deps.events, log: this.deps.log, openDestination: this.deps.openDestination },
    );
  }

  listRuns(req: ListBackupRunsRequest): BackupRun[] {
    return this.index.list(req.policyId, req.limit).map(({ folder: _folder, ...run }) => run);
  }

  private async runExclusive(policy: NodePolicy, trigger: RunTrigger, attempt: number, runId?: string, onProgress?: ProgressSink): Promise<RecordedRun | 'busy'> {
    if (this.running.has(policy.id)) return 'busy';
    const key = this.store.get().key;
    const placeholder = runId || `pending-${policy.id}`;
    this.running.set(policy.id, placeholder);
    try {
      if (!key) throw new Error('no backup key');
      return await runBackup({ policy, key, trigger, attempt, runId, onProgress }, this.runner);
    } finally {
      this.running.delete(policy.id);
    }
  }

  private checkOptions() {
    return { openSealed: this.deps.openSealed, allowFrequentSchedules: this.deps.allowFrequentSchedules, now: this.deps.now?.() };
  }
}

function finalOf(run: RecordedRun, policy: NodePolicy): BackupProgress {
  const { folder: _folder, ...wire } = run;
  if (run.status === 'ok') {
    return finalMessage(run.id, true, `backup of ${describeSource(policy)} done: ${run.plainBytes} bytes to ${run.copies.length} destination(s)`, { run: wire, plainBytes: run.plainBytes, sealedBytes: run.sealedBytes });
  }
  return finalMessage(run.id, false, 'the backup failed', { run: wire, error: run.error, plainBytes: run.plainBytes, sealedBytes: run.sealedBytes });
}
