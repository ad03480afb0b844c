// The control plane's copy of every node's events and metrics, in SQLite. Writes come in
// batches, one transaction each, with INSERT OR IGNORE on the message id: a redelivered message
// changes nothing. Hot paths use prepared statements (10,000+ events/s); the rest is plain SQL.
import type { Statement } from 'better-sqlite3';
import { ApiError } from '../api/contract';
import type { Db } from '../db/database';

// Samples older than this are dropped (the node's stream keeps them for as long).
export const METRICS_RETENTION_MS = 8 * 24 * 3_600_000;

export type EventData = Record<string, string | number | boolean | null>;
export type StreamKind = 'events' | 'metrics';

export interface EventRow {
  id: string;
  nodeId: string;
  seq: number;
  streamSeq: number;
  atMs: number;
  receivedAtMs: number;
  kind: string;
  severity: 'info' | 'warning' | 'error';
  app: string | null;
  container: string | null;
  release: string | null;
  message: string;
  data: EventData | null;
}

export interface MetricsRow {
  id: string;
  nodeId: string;
  app: string;
  container: string;
  atMs: number;
  cpuPercent: number;
  memBytes: number;
  memLimitBytes: number;
  restarts: number;
}

export interface LinkState {
  nodeId: string;
  stream: StreamKind;
  streamCreated: string | null;
  lastStreamSeq: number;
  stored: number;
  lost: number;
  lastEventAtMs: number | null;
}

// Where a stored batch leaves the stream: the highest stream sequence read and the stream's
// identity (its creation time), kept in the same transaction as the rows.
export interface StreamPosition {
  lastStreamSeq: number;
  streamCreated: string | null;
}

export interface EventFilter {
  nodeId?: string;
  app?: string;
  // Exact kinds ('restart.done') or families without a dot ('restart' = restart.*).
  kinds?: string[];
  sinceMs?: number;
  limit: number;
  before?: string;
}

interface RawEvent extends Omit<EventRow, 'data'> {
  data: string | null;
}

const EVENT_COLUMNS =
  'id, node_id AS nodeId, seq, stream_seq AS streamSeq, at_ms AS atMs, received_at_ms AS receivedAtMs, kind, severity, app, container, release, message, data';
const METRICS_COLUMNS =
  'id, node_id AS nodeId, app, container, at_ms AS atMs, cpu_percent AS cpuPercent, mem_bytes AS memBytes, mem_limit_bytes AS memLimitBytes, restarts';

export class EventStore {
  private insertEvent: Statement;
  private insertSample: Statement;
  private readLink: Statement;
  private upsertLink: Statement;

  constructor(private db: Db) {
    const sql = db.$client;
    this.insertEvent = sql.prepare(
      `INSERT OR IGNORE INTO node_events (id, node_id, seq, stream_seq, at_ms, received_at_ms, kind, severity, app, container, release, message, data)
       VALUES (@id, @nodeId, @seq, @streamSeq, @atMs, @receivedAtMs, @kind, @severity, @app, @container, @release, @message, @data)`,
    );
    this.insertSample = sql.prepare(
      `INSERT OR IGNORE INTO metrics_samples (id, node_id, app, container, at_ms, cpu_percent, mem_bytes, mem_limit_bytes, restarts)
       VALUES (@id, @nodeId, @app, @container, @atMs, @cpuPercent, @memBytes, @memLimitBytes, @restarts)`,
    );
    this.readLink = sql.prepare(
      `SELECT node_id AS nodeId, stream, stream_created AS streamCreated, last_stream_seq AS lastStreamSeq, stored, lost, last_event_at_ms AS lastEventAtMs
       FROM event_links WHERE node_id = ? AND stream = ?`,
    );
    this.upsertLink = sql.prepare(
      `INSERT INTO event_links (node_id, stream, stream_created, last_stream_seq, stored, lost, last_event_at_ms, updated_at)
       VALUES (@nodeId, @stream, @streamCreated, @lastStreamSeq, @stored, @lost, @lastEventAtMs, @updatedAt)
       ON CONFLICT (node_id, stream) DO UPDATE SET stream_created = excluded.stream_created, last_stream_seq = excluded.last_stream_seq,
         stored = excluded.stored, lost = excluded.lost, last_event_at_ms = excluded.last_event_at_ms, updated_at = excluded.updated_at`,
    );
  }

  link(nodeId: string, stream: StreamKind): LinkState {
    return (
      (this.readLink.get(nodeId, stream) as LinkState | undefined) ?? {
        nodeId,
        stream,
        streamCreated: null,
        lastStreamSeq: 0,
        stored: 0,
        lost: 0,
        lastEventAtMs: null,
      }
    );
  }

  // Stores the batch and moves the link's position in one transaction; returns the rows that
  // were new (a redelivered message is not among them).
  storeEvents(nodeId: string, rows: EventRow[], position: StreamPosition): EventRow[] {
    return this.db.$client.transaction(() => {
      const fresh: EventRow[] = [];
      for (const r of rows) {
        const res = this.insertEvent.run({ ...r, data: r.data ? JSON.stringify(r.data) : null });
        if (res.changes) fresh.push(r);
      }
      this.advance(nodeId, 'events', position, fresh.length, newestAt(fresh));
      return fresh;
    })();
  }

  storeMetrics(nodeId: string, rows: MetricsRow[], position: StreamPosition): MetricsRow[] {
    return this.db.$client.transaction(() => {
      const fresh: MetricsRow[] = [];
      for (const r of rows) if (this.insertSample.run(r).changes) fresh.push(r);
      this.advance(nodeId, 'metrics', position, fresh.length, newestAt(fresh));
      return fresh;
    })();
  }

  // Counts messages the node's stream dropped before they were read, with (for events) a
  // synthetic warning event in the node's timeline; `advanceTo` moves the position past them.
  recordLost(nodeId: string, stream: StreamKind, count: number, opts: { event?: EventRow; advanceTo?: StreamPosition } = {}): void {
    this.db.$client.transaction(() => {
      if (opts.event) this.insertEvent.run({ ...opts.event, data: opts.event.data ? JSON.stringify(opts.event.data) : null });
      const cur = this.link(nodeId, stream);
      const position = opts.advanceTo && opts.advanceTo.lastStreamSeq > cur.lastStreamSeq ? opts.advanceTo : cur;
      this.upsertLink.run({ ...cur, ...position, lost: cur.lost + count, updatedAt: Date.now() });
    })();
  }

  // The stream was created anew on the node (its sequence starts over): read it from the start.
  resetPosition(nodeId: string, stream: StreamKind, streamCreated: string): void {
    const cur = this.link(nodeId, stream);
    this.upsertLink.run({ ...cur, streamCreated, lastStreamSeq: 0, updatedAt: Date.now() });
  }

  // Events of the node already stored with a stream sequence in [from, to].
  storedInRange(nodeId: string, from: number, to: number): number {
    const r = this.db.$client
      .prepare('SELECT COUNT(*) AS n FROM node_events WHERE node_id = ? AND stream_seq BETWEEN ? AND ?')
      .get(nodeId, from, to) as { n: number };
    return r.n;
  }

  // The highest seq of the node's stored events (0 when none).
  maxSeq(nodeId: string): number {
    return (this.db.$client.prepare('SELECT MAX(seq) AS s FROM node_events WHERE node_id = ?').get(nodeId) as { s: number | null }).s ?? 0;
  }

  event(id: string): EventRow | null {
    const r = this.db.$client.prepare(`SELECT ${EVENT_COLUMNS} FROM node_events WHERE id = ?`).get(id) as RawEvent | undefined;
    return r ? decode(r) : null;
  }

  // Newest first. With a node: in that node's own order (seq); across nodes: by time.
  list(f: EventFilter): EventRow[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (f.nodeId !== undefined) {
      where.push('node_id = ?');
      args.push(f.nodeId);
    }
    if (f.app !== undefined) {
      where.push('app = ?');
      args.push(f.app);
    }
    if (f.kinds?.length) {
      where.push(`(${f.kinds.map(() => '(kind = ? OR kind LIKE ?)').join(' OR ')})`);
      for (const k of f.kinds) args.push(k, k.includes('.') ? k : `${k}.%`);
    }
    if (f.sinceMs !== undefined) {
      where.push('at_ms >= ?');
      args.push(f.sinceMs);
    }
    const byNode = f.nodeId !== undefined;
    if (f.before !== undefined) {
      const b = this.event(f.before);
      if (!b) throw new ApiError('invalid_input', `no stored event with id '${f.before}' to page back from`, 'pass the id of the oldest event of the previous page');
      if (byNode) {
        where.push('(seq, id) < (?, ?)');
        args.push(b.seq, b.id);
      } else {
        where.push('(at_ms, seq, id) < (?, ?, ?)');
        args.push(b.atMs, b.seq, b.id);
      }
    }
    const order = byNode ? 'seq DESC, id DESC' : 'at_ms DESC, seq DESC, id DESC';
    const sql = `SELECT ${EVENT_COLUMNS} FROM node_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ${order} LIMIT ?`;
    return (this.db.$client.prepare(sql).all(...args, f.limit) as RawEvent[]).map(decode);
  }

  // The newest `limit` samples of an app since sinceMs, oldest first (for charts).
  metrics(app: string, sinceMs: number, limit: number): MetricsRow[] {
    const rows = this.db.$client
      .prepare(`SELECT ${METRICS_COLUMNS} FROM metrics_samples WHERE app = ? AND at_ms >= ? ORDER BY at_ms DESC, id DESC LIMIT ?`)
      .all(app, sinceMs, limit) as MetricsRow[];
    return rows.reverse();
  }

  // One indexed range delete; returns how many samples went.
  pruneMetrics(now = Date.now()): number {
    return this.db.$client.prepare('DELETE FROM metrics_samples WHERE at_ms < ?').run(now - METRICS_RETENTION_MS).changes;
  }

  // The newest event of each kind for an app (by time, then the node's order), at or after sinceMs.
  latestOfKinds(app: string, kinds: readonly string[], sinceMs = 0): Map<string, { atMs: number; seq: number }> {
    const stmt = this.db.$client.prepare('SELECT at_ms AS atMs, seq FROM node_events WHERE app = ? AND kind = ? AND at_ms >= ? ORDER BY at_ms DESC, seq DESC LIMIT 1');
    const out = new Map<string, { atMs: number; seq: number }>();
    for (const k of kinds) {
      const r = stmt.get(app, k, sinceMs) as { atMs: number; seq: number } | undefined;
      if (r) out.set(k, r);
    }
    return out;
  }

  countKind(app: string, kind: string, sinceMs: number): number {
    return (this.db.$client.prepare('SELECT COUNT(*) AS n FROM node_events WHERE app = ? AND kind = ? AND at_ms >= ?').get(app, kind, sinceMs) as { n: number }).n;
  }

  lastEventAt(app: string): number | null {
    return (this.db.$client.prepare('SELECT MAX(at_ms) AS at FROM node_events WHERE app = ?').get(app) as { at: number | null }).at;
  }

  private advance(nodeId: string, stream: StreamKind, position: StreamPosition, added: number, newestAt: number | null): void {
    const cur = this.link(nodeId, stream);
    this.upsertLink.run({
      ...cur,
      streamCreated: position.streamCreated ?? cur.streamCreated,
      lastStreamSeq: Math.max(cur.lastStreamSeq, position.lastStreamSeq),
      stored: cur.stored + added,
      lastEventAtMs: newestAt === null ? cur.lastEventAtMs : Math.max(cur.lastEventAtMs ?? 0, newestAt),
      updatedAt: Date.now(),
    });
  }
}

function newestAt(rows: { atMs: number }[]): number | null {
  let at: number | null = null;
  for (const r of rows) if (at === null || r.atMs > at) at = r.atMs;
  return at;
}

function decode(r: RawEvent): EventRow {
  return { ...r, data: r.data ? (JSON.parse(r.data) as EventData) : null };
}
