// recordings.*: list, inspect, read back (decrypted, verified), delete; the retention policy and
// its sweeper. Reading, deleting and expiring are audited; the content never is.
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { DEFAULT_RECORDING_RETENTION_DAYS } from '../../proto/terminal-defaults';
import { ApiError, type RecordingSummary } from '../api/contract';
import type { CallContext, Handlers } from '../api/router';
import type { AuditLog } from '../audit';
import type { Db } from '../db/database';
import { settings } from '../db/schema';
import { readRecording } from './recording-reader';
import { RecordingStore, formatBytes, sessionTarget, toRecordingSummary, type RecordingRow } from './recording-store';

export const RETENTION_SETTINGS_KEY = 'recordings.retention';
export const RETENTION_SWEEP_MS = 60 * 60_000;
const DAY_MS = 86_400_000;
// While the caller's connection holds this much unsent, reading waits.
const READ_BACKLOG_HIGH_BYTES = 4 * 1024 * 1024;
const READ_BACKLOG_POLL_MS = 20;
const SYSTEM: CallContext = { actor: 'system', source: 'system' };

export interface RecordingsServiceDeps {
  db: Db;
  store: RecordingStore;
  audit: AuditLog;
  dataDir: string;
  recordingsKey: Uint8Array;
  publishChanged: (r: RecordingSummary) => void;
  publishDeleted: (id: string) => void;
}

export function readRetentionDays(db: Db): number {
  const row = db.select().from(settings).where(eq(settings.name, RETENTION_SETTINGS_KEY)).get();
  return row ? (JSON.parse(row.value) as { days: number }).days : DEFAULT_RECORDING_RETENTION_DAYS;
}

function writeRetentionDays(db: Db, days: number): void {
  const value = JSON.stringify({ days });
  db.insert(settings).values({ name: RETENTION_SETTINGS_KEY, value }).onConflictDoUpdate({ target: settings.name, set: { value } }).run();
}

const recordingTarget = (id: string) => `recording/${id}`;

export class Recordings {
  constructor(private d: RecordingsServiceDeps) {}

  require(id: string): RecordingRow {
    const row = this.d.store.byId(id);
    if (!row) throw new ApiError('not_found', `no recording '${id}'`, 'list recordings with `podploy recordings list`');
    return row;
  }

  async remove(row: RecordingRow): Promise<void> {
    await rm(join(this.d.dataDir, row.file), { force: true });
    this.d.store.delete(row.id);
    this.d.publishDeleted(row.id);
  }

  // Deletes finished recordings older than the retention (none when it is 0); returns how many.
  async sweep(now = Date.now()): Promise<number> {
    const days = readRetentionDays(this.d.db);
    if (days === 0) return 0;
    let n = 0;
    for (const row of this.d.store.endedBefore(now - days * DAY_MS)) {
      await this.remove(row);
      this.d.audit.record(SYSTEM, 'recording.expire', recordingTarget(row.id), 'ok', `older than the ${days}-day retention; session by ${row.actor} in ${sessionTarget(row)}, started ${new Date(row.startedAt).toISOString()}`);
      n++;
    }
    return n;
  }

  // At once, then every RETENTION_SWEEP_MS; the timer does not keep the process alive.
  startSweeper(onError: (err: unknown) => void): () => void {
    const run = () => void this.sweep().catch(onError);
    run();
    const timer = setInterval(run, RETENTION_SWEEP_MS);
    timer.unref();
    return () => clearInterval(timer);
  }
}

export function recordingsHandlers(
  d: RecordingsServiceDeps,
  recordings: Recordings,
): Pick<Handlers, 'recordings.list' | 'recordings.get' | 'recordings.read' | 'recordings.delete' | 'recordings.retention' | 'recordings.setRetention'> {
  return {
    'recordings.list': async (q) => d.store.list(q).map(toRecordingSummary),
    'recordings.get': async ({ id }) => toRecordingSummary(recordings.require(id)),

    'recordings.read': async ({ id }, ctx, progress) => {
      const row = recordings.require(id);
      return d.audit.around(
        ctx,
        'recording.read',
        recordingTarget(id),
        async () => {
          const outcome = await readRecording(join(d.dataDir, row.file), d.recordingsKey, { id, allowTruncated: row.state !== 'ended' }, async (text) => {
            progress({ text });
            await backlogBelow(ctx, READ_BACKLOG_HIGH_BYTES);
          });
          return { recording: toRecordingSummary(d.store.byId(id) ?? row), chars: outcome.chars, truncated: outcome.truncated };
        },
        (r) => `session by ${row.actor} in ${sessionTarget(row)}; ${r.chars} chars${r.truncated ? '; truncated (the control plane stopped during the session)' : ''}`,
      );
    },

    'recordings.delete': async ({ id }, ctx) => {
      const row = recordings.require(id);
      return d.audit.around(
        ctx,
        'recording.delete',
        recordingTarget(id),
        async () => {
          if (row.state === 'live') throw new ApiError('conflict', `recording ${id} belongs to a session that is still running`, 'end the session first');
          await recordings.remove(row);
          return { id };
        },
        () => `session by ${row.actor} in ${sessionTarget(row)}, started ${new Date(row.startedAt).toISOString()}, ${formatBytes(row.bytes)}`,
      );
    },

    'recordings.retention': async () => ({ days: readRetentionDays(d.db) }),

    'recordings.setRetention': async ({ days }, ctx) =>
      d.audit.around(
        ctx,
        'recording.retention',
        'recordings',
        async () => {
          writeRetentionDays(d.db, days);
          return { days, deleted: await recordings.sweep() };
        },
        (r) => `${r.days === 0 ? 'keep forever' : `${r.days} days`}; ${r.deleted} expired recordings deleted now`,
      ),
  };
}

async function backlogBelow(ctx: CallContext, bytes: number): Promise<void> {
  while (ctx.backlog && !ctx.signal?.aborted && ctx.backlog() > bytes) await new Promise((r) => setTimeout(r, READ_BACKLOG_POLL_MS));
}

// The sealed file's size now (0 when it is gone).
export async function fileBytes(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}
