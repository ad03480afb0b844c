// The node's backup.* events as changes to backup_runs rows (proto/node-events.ts lists their data).
import type { NodeEventSummary } from '../api/contract';
import type { RunCopy, RunPatch, RunTrigger } from './run-store';

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

function copiesOf(v: unknown): RunCopy[] | undefined {
  if (typeof v !== 'string' || !v) return undefined;
  try {
    const parsed = JSON.parse(v) as { destinationId?: string; key?: string; ok?: boolean; error?: string | null }[];
    if (!Array.isArray(parsed)) return undefined;
    return parsed.map((c) => ({ destinationId: String(c.destinationId ?? ''), key: String(c.key ?? ''), ok: c.ok === true, error: c.error ? String(c.error) : null }));
  } catch {
    return undefined;
  }
}

// null: not a backup run event, or one without the ids it needs.
export function runPatchFromEvent(e: NodeEventSummary): RunPatch | null {
  if (!e.kind.startsWith('backup.')) return null;
  const data = e.data ?? {};
  const id = str(data.runId);
  const policyId = str(data.policyId);
  if (!id || !policyId) return null;
  const trigger = str(data.trigger) as RunTrigger | undefined;
  const common = {
    id,
    policyId,
    app: e.app,
    ...(trigger && ['schedule', 'manual', 'retry'].includes(trigger) ? { trigger } : {}),
    ...(num(data.attempt) ? { attempt: num(data.attempt) } : {}),
  };
  switch (e.kind) {
    case 'backup.started':
      return { ...common, status: 'running', startedAt: e.atMs };
    case 'backup.done':
    case 'backup.failed': {
      const duration = num(data.durationMs);
      return {
        ...common,
        status: e.kind === 'backup.done' ? 'ok' : 'failed',
        finishedAt: e.atMs,
        ...(duration !== undefined ? { startedAt: e.atMs - duration } : {}),
        ...(num(data.plainBytes) !== undefined ? { plainBytes: num(data.plainBytes) } : {}),
        ...(num(data.sealedBytes) !== undefined ? { sealedBytes: num(data.sealedBytes) } : {}),
        ...(str(data.sha256) ? { sha256: str(data.sha256) } : {}),
        ...(copiesOf(data.copies) ? { copies: copiesOf(data.copies) } : {}),
        error: e.kind === 'backup.failed' ? (str(data.error) ?? e.message) : null,
      };
    }
    case 'backup.pruned':
      return { id, policyId, status: 'pruned' };
    default:
      return null;
  }
}
