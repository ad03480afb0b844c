// The Backup RPC: a signed run_backup or restore_backup in, throttled progress out, then exactly
// one final message, and the end of the stream. The signature is verified as Execute verifies
// it (a rejection ends the call with PERMISSION_DENIED); a verified command of another kind ends
// it with INVALID_ARGUMENT. The work goes on when the caller goes away: a run is recorded and
// reported as events either way.
import type { BackupProgress, CommandEnvelope, SignedCommand } from '../../proto/gen/podploy/agent/v1/agent';
import type { Logger } from '../logger';
import { finalMessage } from './progress';
import type { NodeBackups } from './node-backups';

export class BackupCallRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupCallRefused';
  }
}

export interface BackupCall {
  verify(signed: SignedCommand): CommandEnvelope;
  write(p: BackupProgress): void;
}

// Throws CommandRejected (from verify) or BackupCallRefused before anything runs; otherwise
// resolves with the final message it wrote.
export async function handleBackupCall(signed: SignedCommand, call: BackupCall, backups: NodeBackups, nodeId: string, log: Logger): Promise<BackupProgress> {
  const envelope = call.verify(signed);
  const id = envelope.runBackup?.runId || envelope.restoreBackup?.restoreId || '';
  let final: BackupProgress;
  try {
    if (envelope.runBackup) {
      log.info({ event: 'backup_requested', actor: envelope.actor, policyId: envelope.runBackup.policyId, runId: id }, `backup of policy ${envelope.runBackup.policyId} requested`);
      final = await backups.runNow(envelope.runBackup, (p) => call.write(p));
    } else if (envelope.restoreBackup) {
      log.info({ event: 'restore_requested', actor: envelope.actor, runId: envelope.restoreBackup.runId, restoreId: id, mode: envelope.restoreBackup.mode || 'new' }, `restore of run ${envelope.restoreBackup.runId} requested`);
      final = await backups.restore(envelope.restoreBackup, (p) => call.write(p));
    } else {
      log.warn({ event: 'backup_invalid', actor: envelope.actor, nonce: envelope.nonce }, 'Backup called without run_backup or restore_backup');
      throw new BackupCallRefused('Backup needs a signed command carrying run_backup or restore_backup; other commands go through Execute');
    }
  } catch (err) {
    if (err instanceof BackupCallRefused) throw err;
    log.error({ event: 'backup_call_crashed', err: (err as Error).message }, 'backup call failed');
    final = finalMessage(id, false, 'internal error', { error: `node ${nodeId}: internal error: ${(err as Error).message}` });
  }
  call.write(final);
  return final;
}
