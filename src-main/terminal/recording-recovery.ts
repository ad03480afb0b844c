// At start: recordings still marked live belong to sessions the control plane was running when it
// stopped. Each is closed as interrupted, ending at its last surviving event, and gets the audit
// row its session never wrote.
import { join } from 'node:path';
import type { RecordingSummary } from '../api/contract';
import type { CallContext } from '../api/router';
import type { AuditLog } from '../audit';
import { salvageRecording } from './recording-reader';
import { RecordingStore, sessionAuditDetail, sessionTarget, toRecordingSummary } from './recording-store';
import { fileBytes } from './recordings-service';

export const REASON_INTERRUPTED = 'the control plane stopped during the session';

export async function recoverInterruptedRecordings(d: {
  store: RecordingStore;
  audit: AuditLog;
  dataDir: string;
  recordingsKey: Uint8Array;
  publishChanged?: (r: RecordingSummary) => void;
}): Promise<RecordingSummary[]> {
  const out: RecordingSummary[] = [];
  for (const row of d.store.live()) {
    const path = join(d.dataDir, row.file);
    const salvaged = await salvageRecording(path, d.recordingsKey);
    const updated = d.store.finish(row.id, {
      endedAt: row.startedAt + Math.round((salvaged.lastSeconds ?? 0) * 1000),
      exitCode: null,
      endReason: REASON_INTERRUPTED,
      state: 'interrupted',
      bytes: await fileBytes(path),
      inputBytes: salvaged.inputBytes,
      outputBytes: salvaged.outputBytes,
    });
    const ctx = { actor: row.actor, source: row.source as CallContext['source'] };
    d.audit.record(ctx, 'terminal.session', sessionTarget(updated), 'error', sessionAuditDetail(updated));
    const summary = toRecordingSummary(updated);
    d.publishChanged?.(summary);
    out.push(summary);
  }
  return out;
}
