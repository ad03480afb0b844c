// Restores one run from one destination into the node: the run's verified plaintext piped into
// the matching restore (a new volume/database/file named target_name, or over the policy's own
// source). A damaged, truncated or wrongly keyed backup is refused with the integrity error, and
// the restore functions remove a new target when their input fails, so nothing is left behind.
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { BackupDestination } from '../../proto/backup/destinations/destination';
import { errorText } from '../../proto/backup/destinations/errors';
import { openDestination } from '../../proto/backup/destinations/open-destination';
import { runFolder } from '../../proto/backup/manifest';
import { readBackupRun } from '../../proto/backup/read-run';
import type { BackupProgress } from '../../proto/gen/podploy/agent/v1/agent';
import type { NodeEventSink } from '../../proto/node-events';
import type { Logger } from '../logger';
import { restoreInto, type SourceDeps } from './backup-source';
import type { NodePolicy } from './policies';
import { finalMessage, progressMessage, ThrottledProgress, type ProgressSink } from './progress';

export interface RestoreDeps extends SourceDeps {
  events?: NodeEventSink;
  log: Logger;
  openDestination?: typeof openDestination;
}

export interface RestoreRequest {
  policy: NodePolicy;
  runId: string;
  restoreId: string;
  // '' = the policy's first destination.
  destinationId: string;
  mode: 'new' | 'over';
  targetName: string;
  // Another app of this node to restore into (its live container for databases); absent: the policy's.
  targetApp?: string;
  key: Uint8Array;
  signal?: AbortSignal;
  onProgress?: ProgressSink;
}

// The final progress message (ok or not). Never throws.
export async function restoreBackup(req: RestoreRequest, deps: RestoreDeps): Promise<BackupProgress> {
  const { policy, runId, restoreId } = req;
  const started = Date.now();
  const progress = new ThrottledProgress(req.onProgress);
  const ids = { runId, policyId: policy.id, restoreId, mode: req.mode };
  let destination: BackupDestination | undefined;
  let plainBytes = 0;
  let sealedBytes = 0;
  try {
    if (req.mode === 'new' && !req.targetName) throw new Error('a restore into something new needs target_name (the new volume, database or file)');
    const chosen = req.destinationId ? policy.destinations.find((d) => d.id === req.destinationId) : policy.destinations[0];
    if (!chosen) throw new Error(`destination ${req.destinationId} is not one of policy ${policy.name}'s destinations (${policy.destinations.map((d) => d.id).join(', ')})`);
    destination = await (deps.openDestination ?? openDestination)(chosen.config);
    const folder = runFolder(policy.id, runId, policy.app);
    progress.send(progressMessage(restoreId, 'verifying', { message: `opening run ${runId} on ${destination.where}` }));
    const { manifest, data } = await readBackupRun({
      destination,
      folder,
      key: req.key,
      signal: req.signal,
      onProgress: (p) => {
        plainBytes = p.plainBytes;
        sealedBytes = p.sealedBytes;
        progress.send(progressMessage(restoreId, 'restoring', { plainBytes, sealedBytes }));
      },
    });
    if (manifest.source.kind !== policy.source.kind) {
      data.destroy();
      throw new Error(`run ${runId} holds a ${manifest.source.kind} backup; policy ${policy.name} restores ${policy.source.kind}`);
    }
    const hash = createHash('sha256');
    const hashed = data.pipe(new Transform({ transform: (c: Buffer, _e, done) => (hash.update(c), done(null, c)) }));
    data.once('error', (err) => hashed.destroy(err));
    const into = req.targetApp ? { ...policy, app: req.targetApp } : policy;
    const target = await restoreInto(into, manifest, hashed, { mode: req.mode, name: req.targetName, restoredFrom: runId, signal: req.signal }, deps);
    const sha256 = hash.digest('hex');
    const durationMs = Date.now() - started;
    const message = `run ${runId} restored ${req.mode === 'over' ? 'over' : 'into new'} ${policy.source.kind === 'volume' ? 'volume' : policy.source.kind === 'sqlite' ? 'file' : 'database'} ${target}: ${manifest.plainBytes} bytes, sha256 ${sha256}, in ${durationMs} ms`;
    deps.log.info({ event: 'restore_done', ...ids, target, plainBytes: manifest.plainBytes, ms: durationMs }, message);
    deps.events?.emit({ kind: 'restore.done', app: policy.app, message, data: { ...ids, target, plainBytes: manifest.plainBytes, sha256, durationMs } });
    return finalMessage(restoreId, true, message, { plainBytes: manifest.plainBytes, sealedBytes: manifest.sealedBytes });
  } catch (err) {
    const error = `node ${deps.nodeId}: restore of run ${runId} failed: ${errorText(err)}`;
    deps.log.warn({ event: 'restore_failed', ...ids, error }, error);
    deps.events?.emit({ kind: 'restore.failed', severity: 'error', app: policy.app, message: error, data: { ...ids, error, durationMs: Date.now() - started } });
    return finalMessage(restoreId, false, 'the restore failed', { error, plainBytes, sealedBytes });
  } finally {
    await destination?.close().catch(() => undefined);
  }
}
