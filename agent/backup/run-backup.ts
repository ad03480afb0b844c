// One backup run of a policy on this node: the source streamed, sealed and written to every
// destination (proto/backup/write-run.ts), recorded in the run index, reported as events, and
// after a success the policy's retention applied. Never throws: every outcome is a record.
import { randomBytes } from 'node:crypto';
import { decideRetention } from '../../proto/backup-retention';
import type { BackupDestination } from '../../proto/backup/destinations/destination';
import type { DestinationConfig } from '../../proto/backup/destinations/destination-config';
import { errorText } from '../../proto/backup/destinations/errors';
import { openDestination } from '../../proto/backup/destinations/open-destination';
import { runFolder } from '../../proto/backup/manifest';
import { deleteBackupRun } from '../../proto/backup/read-run';
import { BackupWriteError, writeBackupRun, type RunTarget } from '../../proto/backup/write-run';
import type { BackupCopy } from '../../proto/gen/podploy/agent/v1/agent';
import type { NodeEventSink } from '../../proto/node-events';
import type { Logger } from '../logger';
import { AGENT_VERSION } from '../version';
import { openSource, sourceDescription, type SourceDeps } from './backup-source';
import type { NodeDestination, NodePolicy } from './policies';
import { progressMessage, ThrottledProgress, type ProgressSink } from './progress';
import type { BackupRunIndex, RecordedRun } from './run-index';

export type RunTrigger = 'schedule' | 'manual' | 'retry';
export const AGENT_STOPPED_DURING_RUN = 'the agent stopped during the run';

export interface RunnerDeps extends SourceDeps {
  index: BackupRunIndex;
  events?: NodeEventSink;
  log: Logger;
  now?: () => number;
  openDestination?: (config: DestinationConfig) => Promise<BackupDestination>;
}

export interface RunRequest {
  policy: NodePolicy;
  key: Uint8Array;
  trigger: RunTrigger;
  attempt: number;
  runId?: string;
  signal?: AbortSignal;
  onProgress?: ProgressSink;
}

export function newRunId(now = Date.now()): string {
  return `run-${now.toString(36)}-${randomBytes(4).toString('hex')}`;
}

export async function runBackup(req: RunRequest, deps: RunnerDeps): Promise<RecordedRun> {
  const { policy } = req;
  const now = deps.now ?? Date.now;
  const startedAtMs = now();
  const id = req.runId || newRunId(startedAtMs);
  let folder: string;
  try {
    folder = runFolder(policy.id, id, policy.app);
  } catch (err) {
    folder = '';
    return finishFailed(blankRun(req, id, folder, startedAtMs), errorText(err), deps);
  }
  const run: RecordedRun = blankRun(req, id, folder, startedAtMs);
  deps.index.put(run);
  const ids = { runId: id, policyId: policy.id, trigger: req.trigger, attempt: req.attempt };
  deps.log.info({ event: 'backup_started', ...ids, app: policy.app, source: policy.source.kind }, `backup ${id} of policy ${policy.name} started`);
  deps.events?.emit({ kind: 'backup.started', app: policy.app, message: `backup of ${describeSource(policy)} (policy ${policy.name}) started`, data: ids });
  const progress = new ThrottledProgress(req.onProgress, now);
  progress.send(progressMessage(id, 'reading', { message: `reading ${describeSource(policy)}` }));

  const opened: BackupDestination[] = [];
  try {
    const targets: RunTarget[] = [];
    for (const d of policy.destinations) {
      const destination = await (deps.openDestination ?? openDestination)(d.config);
      opened.push(destination);
      targets.push({ id: d.id, destination });
    }
    const source = await openSource(policy, deps);
    const written = await writeBackupRun({
      source,
      key: req.key,
      targets,
      folder,
      signal: req.signal,
      manifest: { runId: id, policyId: policy.id, policyName: policy.name, nodeId: deps.nodeId, app: policy.app, source: sourceDescription(policy), startedAt: startedAtMs, writer: `podploy-agent ${AGENT_VERSION}` },
      onProgress: (p) => progress.send(progressMessage(id, 'uploading', { plainBytes: p.plainBytes, sealedBytes: p.sealedBytes })),
    });
    const m = written.manifest;
    const done: RecordedRun = {
      ...run,
      status: 'ok',
      finishedAtMs: now(),
      plainBytes: m.plainBytes,
      sealedBytes: m.sealedBytes,
      plainSha256: m.plainSha256,
      copies: written.copies.map((c) => ({ destinationId: c.id, key: c.key, ok: true, error: '' })),
    };
    deps.index.put(done);
    const durationMs = done.finishedAtMs - startedAtMs;
    deps.log.info({ event: 'backup_done', ...ids, plainBytes: m.plainBytes, sealedBytes: m.sealedBytes, ms: durationMs }, `backup ${id} of policy ${policy.name} done`);
    deps.events?.emit({
      kind: 'backup.done',
      app: policy.app,
      message: `backup of ${describeSource(policy)} (policy ${policy.name}) done: ${m.plainBytes} bytes to ${policy.destinations.length} destination(s) in ${durationMs} ms`,
      data: { ...ids, plainBytes: m.plainBytes, sealedBytes: m.sealedBytes, durationMs, sha256: m.plainSha256, copies: JSON.stringify(done.copies), error: null },
    });
    progress.send(progressMessage(id, 'pruning', { plainBytes: m.plainBytes, sealedBytes: m.sealedBytes, message: 'applying retention' }));
    await applyRetention(policy, opened, deps);
    return done;
  } catch (err) {
    const copies: BackupCopy[] =
      err instanceof BackupWriteError ? err.copies.map((c) => ({ destinationId: c.id, key: c.key, ok: false, error: c.error ?? '' })) : run.copies;
    return finishFailed({ ...run, copies }, errorText(err), deps);
  } finally {
    await Promise.all(opened.map((d) => d.close().catch(() => undefined)));
  }
}

function blankRun(req: RunRequest, id: string, folder: string, startedAtMs: number): RecordedRun {
  const { policy } = req;
  return {
    id,
    policyId: policy.id,
    app: policy.app,
    sourceKind: policy.source.kind,
    trigger: req.trigger,
    attempt: req.attempt,
    startedAtMs,
    finishedAtMs: 0,
    status: 'running',
    plainBytes: 0,
    sealedBytes: 0,
    plainSha256: '',
    copies: policy.destinations.map((d) => ({ destinationId: d.id, key: folder, ok: false, error: '' })),
    error: '',
    folder,
  };
}

function finishFailed(run: RecordedRun, error: string, deps: RunnerDeps): RecordedRun {
  const failed: RecordedRun = { ...run, status: 'failed', finishedAtMs: (deps.now ?? Date.now)(), error };
  deps.index.put(failed);
  const ids = { runId: run.id, policyId: run.policyId, trigger: run.trigger, attempt: run.attempt };
  const durationMs = failed.finishedAtMs - run.startedAtMs;
  deps.log.warn({ event: 'backup_failed', ...ids, error, ms: durationMs }, `backup ${run.id} failed`);
  deps.events?.emit({
    kind: 'backup.failed',
    severity: 'error',
    app: run.app,
    message: `backup ${run.id} (policy ${run.policyId}, attempt ${run.attempt}) failed: ${error}`,
    data: { ...ids, plainBytes: run.plainBytes, sealedBytes: run.sealedBytes, durationMs, sha256: null, copies: JSON.stringify(failed.copies), error },
  });
  return failed;
}

// Drops the ok runs the policy's retention no longer keeps, on every destination that holds
// them; a run is "pruned" once every copy is gone.
export async function applyRetention(policy: NodePolicy, opened: BackupDestination[], deps: RunnerDeps): Promise<string[]> {
  const now = (deps.now ?? Date.now)();
  const runs = deps.index.okRuns(policy.id);
  const decision = decideRetention(runs.map((r) => ({ id: r.id, atMs: r.startedAtMs })), policy.retention, now, policy.timezone);
  const pruned: string[] = [];
  for (const id of decision.drop) {
    const run = runs.find((r) => r.id === id)!;
    const problems: string[] = [];
    const destinations: string[] = [];
    for (const copy of run.copies) {
      const i = policy.destinations.findIndex((d) => d.id === copy.destinationId);
      if (i < 0) {
        problems.push(`destination ${copy.destinationId} is no longer in the policy (delete ${run.folder} there by hand)`);
        continue;
      }
      const destination = opened[i] ?? (await (deps.openDestination ?? openDestination)(policy.destinations[i].config));
      try {
        await deleteBackupRun(destination, run.folder);
        destinations.push(copy.destinationId);
      } catch (err) {
        problems.push(`${copy.destinationId}: ${errorText(err)}`);
      } finally {
        if (!opened[i]) await destination.close().catch(() => undefined);
      }
    }
    if (problems.length) {
      deps.log.warn({ event: 'backup_prune_failed', runId: id, policyId: policy.id, problems }, `retention could not remove run ${id}; it is tried again after the next run`);
      continue;
    }
    deps.index.put({ ...run, status: 'pruned' });
    pruned.push(id);
    deps.log.info({ event: 'backup_pruned', runId: id, policyId: policy.id }, `backup run ${id} pruned`);
    deps.events?.emit({
      kind: 'backup.pruned',
      app: policy.app,
      message: `backup run ${id} of policy ${policy.name} removed by retention (keeps last ${policy.retention.last}, daily ${policy.retention.daily}, weekly ${policy.retention.weekly}, monthly ${policy.retention.monthly})`,
      data: { runId: id, policyId: policy.id, reason: 'kept by no retention rule', destinations: destinations.join(',') },
    });
  }
  return pruned;
}

// At agent start: runs still "running" were cut by the agent's end. Each becomes failed and its
// folder is removed from every destination of its policy.
export async function failInterruptedRuns(policies: NodePolicy[], deps: RunnerDeps): Promise<RecordedRun[]> {
  const out: RecordedRun[] = [];
  for (const run of deps.index.running()) {
    const policy = policies.find((p) => p.id === run.policyId);
    const problems: string[] = [];
    const destinations: NodeDestination[] = policy?.destinations.filter((d) => run.copies.some((c) => c.destinationId === d.id)) ?? [];
    if (!policy) problems.push(`its policy is no longer on this node: delete ${run.folder} on its destinations by hand`);
    for (const d of destinations) {
      try {
        const destination = await (deps.openDestination ?? openDestination)(d.config);
        try {
          await deleteBackupRun(destination, run.folder);
        } finally {
          await destination.close().catch(() => undefined);
        }
      } catch (err) {
        problems.push(`removing it from ${d.id} failed: ${errorText(err)}`);
      }
    }
    const error = `${AGENT_STOPPED_DURING_RUN}${problems.length ? `; ${problems.join('; ')}` : '; what it had written was removed'}`;
    out.push(finishFailed({ ...run, copies: run.copies.map((c) => ({ ...c, ok: false, error: AGENT_STOPPED_DURING_RUN })) }, error, deps));
  }
  return out;
}

export function describeSource(policy: NodePolicy): string {
  const s = policy.source;
  switch (s.kind) {
    case 'volume':
      return `volume ${s.volume} of ${policy.app}`;
    case 'sqlite':
      return `SQLite ${s.path} of ${policy.app}`;
    default:
      return `${s.kind === 'postgres' ? 'PostgreSQL' : 'MySQL'} database ${s.database} of ${policy.app}`;
  }
}
