// The recordings index (table `recordings`): one row per terminal session, written when it opens
// and completed when it ends. Holds who, where and how much, never what was typed or shown.
import { and, desc, eq, gte, lt, lte, ne, type SQL } from 'drizzle-orm';
import type { RecordingSummary } from '../api/contract';
import type { Db } from '../db/database';
import { recordings } from '../db/schema';

export type RecordingRow = typeof recordings.$inferSelect;
export type NewRecordingRow = typeof recordings.$inferInsert;

export interface RecordingFilter {
  node?: string;
  app?: string;
  actor?: string;
  sinceMs?: number;
  untilMs?: number;
  limit: number;
}

export interface RecordingEnd {
  endedAt: number;
  exitCode: number | null;
  endReason: string;
  state: 'ended' | 'interrupted';
  bytes: number;
  inputBytes?: number;
  outputBytes?: number;
}

export class RecordingStore {
  constructor(private db: Db) {}

  insert(row: NewRecordingRow): RecordingRow {
    return this.db.insert(recordings).values(row).returning().get();
  }

  finish(id: string, end: RecordingEnd): RecordingRow {
    return this.db.update(recordings).set(end).where(eq(recordings.id, id)).returning().get();
  }

  byId(id: string): RecordingRow | undefined {
    return this.db.select().from(recordings).where(eq(recordings.id, id)).get();
  }

  // Newest first.
  list(f: RecordingFilter): RecordingRow[] {
    const where: SQL[] = [];
    if (f.node !== undefined) where.push(eq(recordings.nodeName, f.node));
    if (f.app !== undefined) where.push(eq(recordings.app, f.app));
    if (f.actor !== undefined) where.push(eq(recordings.actor, f.actor));
    if (f.sinceMs !== undefined) where.push(gte(recordings.startedAt, f.sinceMs));
    if (f.untilMs !== undefined) where.push(lte(recordings.startedAt, f.untilMs));
    return this.db
      .select()
      .from(recordings)
      .where(and(...where))
      .orderBy(desc(recordings.startedAt), desc(recordings.id))
      .limit(f.limit)
      .all();
  }

  live(): RecordingRow[] {
    return this.db.select().from(recordings).where(eq(recordings.state, 'live')).all();
  }

  // Finished (ended or interrupted) before this time.
  endedBefore(ms: number): RecordingRow[] {
    return this.db
      .select()
      .from(recordings)
      .where(and(ne(recordings.state, 'live'), lt(recordings.endedAt, ms)))
      .all();
  }

  delete(id: string): void {
    this.db.delete(recordings).where(eq(recordings.id, id)).run();
  }
}

export function toRecordingSummary(r: RecordingRow): RecordingSummary {
  return {
    id: r.id,
    actor: r.actor,
    source: r.source,
    node: r.nodeName,
    app: r.app,
    container: r.container,
    command: r.command,
    tty: r.tty,
    cols: r.cols,
    rows: r.rows,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    durationMs: r.endedAt === null ? null : r.endedAt - r.startedAt,
    exitCode: r.exitCode,
    endReason: r.endReason,
    state: r.state,
    bytes: r.bytes,
    inputBytes: r.inputBytes,
    outputBytes: r.outputBytes,
  };
}

// The audit target of a session: the app or the node it ran in.
export const sessionTarget = (r: Pick<RecordingRow, 'app' | 'nodeName'>): string => (r.app ? `app/${r.app}` : `node/${r.nodeName}`);

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// One audit detail for a session: ids, place, outcome and sizes; never its content.
export function sessionAuditDetail(r: RecordingRow): string {
  const duration = r.endedAt === null ? '?' : `${((r.endedAt - r.startedAt) / 1000).toFixed(1)} s`;
  const where = r.container ? `container ${r.container} on node ${r.nodeName}` : `node ${r.nodeName}`;
  return `recording ${r.id}; ${where}; exit ${r.exitCode ?? 'none'} (${r.endReason ?? 'unknown'}); ${duration}; ${formatBytes(r.bytes)} sealed`;
}
