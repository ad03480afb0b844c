// Progress for the RPC caller: at most one message per PROGRESS_INTERVAL_MS (the latest wins),
// phase changes and the final message at once.
import type { BackupProgress, BackupRun } from '../../proto/gen/podploy/agent/v1/agent';

export const PROGRESS_INTERVAL_MS = 250;

export type ProgressSink = (p: BackupProgress) => void;

export function progressMessage(runId: string, phase: string, fields: Partial<BackupProgress> = {}): BackupProgress {
  return { runId, phase, plainBytes: 0, sealedBytes: 0, message: '', final: false, ok: false, error: '', run: undefined, ...fields };
}

export function finalMessage(runId: string, ok: boolean, message: string, fields: { error?: string; run?: BackupRun; plainBytes?: number; sealedBytes?: number; phase?: string } = {}): BackupProgress {
  return progressMessage(runId, fields.phase ?? (ok ? 'done' : 'failed'), { ...fields, final: true, ok, message, error: fields.error ?? '' });
}

export class ThrottledProgress {
  private lastAt = 0;
  private lastPhase = '';

  constructor(
    private readonly sink: ProgressSink | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  send(p: BackupProgress): void {
    if (!this.sink) return;
    const at = this.now();
    if (!p.final && p.phase === this.lastPhase && at - this.lastAt < PROGRESS_INTERVAL_MS) return;
    this.lastAt = at;
    this.lastPhase = p.phase;
    this.sink(p);
  }
}
