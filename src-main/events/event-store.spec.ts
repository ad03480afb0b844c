import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../db/database';
import { foldRuntime } from './app-runtime';
import { BadMessage, decodeEvent, decodeSample } from './event-decode';
import { EventStore, METRICS_RETENTION_MS, type EventRow, type MetricsRow } from './event-store';

const open: { db: Db; dir: string }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) {
    o.db.$client.close();
    rmSync(o.dir, { recursive: true, force: true });
  }
});

function store(): { db: Db; store: EventStore } {
  const dir = mkdtempSync(join(tmpdir(), 'pp-evstore-'));
  const db = openDatabase(join(dir, 'test.db'));
  open.push({ db, dir });
  return { db, store: new EventStore(db) };
}

let n = 0;
function ev(over: Partial<EventRow> = {}): EventRow {
  n++;
  return { id: `e${n}`, nodeId: 'n1', seq: n, streamSeq: n, atMs: 1_000 + n, receivedAtMs: 5_000, kind: 'container.started', severity: 'info', app: 'web', container: 'c', release: null, message: `m${n}`, data: null, ...over };
}

const pos = (lastStreamSeq: number) => ({ lastStreamSeq, streamCreated: 't0' });

describe('event store', () => {
  it('stores a batch once: a redelivered batch inserts nothing and leaves the counters alone', () => {
    const { store: s } = store();
    const batch = [ev(), ev({ data: { exitCode: 137, oom: false } }), ev()];
    expect(s.storeEvents('n1', batch, pos(3))).toHaveLength(3);
    expect(s.storeEvents('n1', batch, pos(3))).toEqual([]);
    expect(s.list({ nodeId: 'n1', limit: 10 })).toHaveLength(3);
    expect(s.event(batch[1].id)!.data).toEqual({ exitCode: 137, oom: false });
    expect(s.link('n1', 'events')).toMatchObject({ stored: 3, lastStreamSeq: 3, streamCreated: 't0', lastEventAtMs: batch[2].atMs });
  });

  it('lists newest first with filters, kind families and paging', () => {
    const { store: s } = store();
    const rows = [ev({ kind: 'restart.scheduled' }), ev({ kind: 'restart.done' }), ev({ app: 'api', kind: 'container.died' }), ev({ nodeId: 'n2', kind: 'restart.done' }), ev({ kind: 'probe.failing' })];
    s.storeEvents('n1', rows, pos(5));
    const ids = (f: Parameters<EventStore['list']>[0]) => s.list(f).map((e) => e.id);
    expect(ids({ limit: 10 })).toEqual(rows.map((r) => r.id).reverse());
    expect(ids({ limit: 10, nodeId: 'n2' })).toEqual([rows[3].id]);
    expect(ids({ limit: 10, app: 'web', kinds: ['restart'] })).toEqual([rows[3].id, rows[1].id, rows[0].id]);
    expect(ids({ limit: 10, kinds: ['restart.done', 'container.died'] })).toEqual([rows[3].id, rows[2].id, rows[1].id]);
    expect(ids({ limit: 10, sinceMs: rows[3].atMs })).toEqual([rows[4].id, rows[3].id]);
    expect(ids({ limit: 2 })).toEqual([rows[4].id, rows[3].id]);
    expect(ids({ limit: 2, before: rows[3].id })).toEqual([rows[2].id, rows[1].id]);
    expect(ids({ limit: 10, nodeId: 'n1', before: rows[2].id })).toEqual([rows[1].id, rows[0].id]);
    expect(() => s.list({ limit: 2, before: 'nope' })).toThrow(/no stored event with id 'nope'/);
  });

  it('keeps metrics idempotent, returns the newest samples oldest first, and prunes old ones', () => {
    const { store: s } = store();
    const now = Date.now();
    const sample = (i: number, atMs: number): MetricsRow => ({ id: `s${i}`, nodeId: 'n1', app: 'web', container: 'c', atMs, cpuPercent: i, memBytes: 1, memLimitBytes: 2, restarts: 0 });
    const rows = [sample(1, now - METRICS_RETENTION_MS - 1_000), sample(2, now - 2_000), sample(3, now - 1_000), sample(4, now)];
    expect(s.storeMetrics('n1', rows, pos(4))).toHaveLength(4);
    expect(s.storeMetrics('n1', rows, pos(4))).toHaveLength(0);
    expect(s.metrics('web', 0, 2).map((m) => m.id)).toEqual(['s3', 's4']);
    expect(s.pruneMetrics(now)).toBe(1);
    expect(s.metrics('web', 0, 10).map((m) => m.id)).toEqual(['s2', 's3', 's4']);
  });

  it('records lost messages with a warning event once, and starts over for a new stream', () => {
    const { store: s } = store();
    s.storeEvents('n1', [ev()], pos(1));
    const warning = ev({ id: 'lost:n1:t0:2-9', kind: 'events.lost', severity: 'warning', streamSeq: 0 });
    s.recordLost('n1', 'events', 8, { event: warning, advanceTo: pos(9) });
    expect(s.link('n1', 'events')).toMatchObject({ lost: 8, lastStreamSeq: 9 });
    expect(s.storedInRange('n1', 1, 9)).toBe(1);
    s.resetPosition('n1', 'events', 't1');
    expect(s.link('n1', 'events')).toMatchObject({ lost: 8, lastStreamSeq: 0, streamCreated: 't1' });
  });
});

describe('decoding node messages', () => {
  it('takes the node from the link, defaults severity, caps sizes, and rejects malformed messages', () => {
    const body = JSON.stringify({ id: 'a', node: 'forged', seq: 3, atMs: 9, kind: 'container.died', message: 'x'.repeat(20_000), data: { exitCode: 1, nested: { no: 1 } } });
    const row = decodeEvent(body, 'n1', 42, 100);
    expect(row).toMatchObject({ id: 'a', nodeId: 'n1', seq: 3, streamSeq: 42, receivedAtMs: 100, severity: 'info', app: null, data: { exitCode: 1 } });
    expect(row.message.length).toBe(8_192);
    expect(() => decodeEvent('nope', 'n1', 1, 1)).toThrow(BadMessage);
    expect(() => decodeEvent(JSON.stringify({ id: 'a', seq: 1, atMs: 1, kind: 'k', message: 'm', severity: 'fatal' }), 'n1', 1, 1)).toThrow(/severity/);
    expect(() => decodeEvent(JSON.stringify({ id: 'a', atMs: 1, kind: 'k', message: 'm' }), 'n1', 1, 1)).toThrow(/'seq' is missing/);
    expect(() => decodeSample(JSON.stringify({ id: 's', app: 'web', container: 'c', atMs: 1, cpuPercent: 'lots' }), 'n1')).toThrow(/cpuPercent/);
  });
});

describe('app runtime fold', () => {
  const app = { name: 'web', node: 'n1' };
  const DEPLOY = 1_500;

  it('is unknown without events and running after a start', () => {
    const { store: s } = store();
    expect(foldRuntime(s, app, DEPLOY)).toMatchObject({ state: 'unknown', restarts: 0, crashLooping: false, probe: 'none', lastEventAtMs: null });
    s.storeEvents('n1', [ev({ atMs: 2_000, kind: 'container.started' })], pos(1));
    expect(foldRuntime(s, app, DEPLOY)).toMatchObject({ state: 'running', lastEventAtMs: 2_000 });
  });

  it('counts restarts since the last deploy and follows restarts, crash loops, probes and stops', () => {
    const { store: s } = store();
    const at = (atMs: number, kind: string) => ev({ atMs, kind });
    s.storeEvents('n1', [at(1_000, 'restart.done'), at(1_100, 'crashloop.entered'), at(1_200, 'probe.failing')], pos(3));
    // Before the deploy: none of it counts for the running release.
    expect(foldRuntime(s, app, DEPLOY)).toMatchObject({ state: 'running', restarts: 0, crashLooping: false, probe: 'none', lastRestartAtMs: 1_000 });
    s.storeEvents('n1', [at(2_000, 'container.died'), at(2_000, 'restart.scheduled')], pos(5));
    expect(foldRuntime(s, app, DEPLOY)).toMatchObject({ state: 'restarting', restarts: 0 });
    s.storeEvents('n1', [at(2_100, 'restart.done'), at(2_200, 'restart.done'), at(2_300, 'probe.failing')], pos(8));
    expect(foldRuntime(s, app, DEPLOY)).toMatchObject({ state: 'running', restarts: 2, probe: 'failing', lastRestartAtMs: 2_200 });
    s.storeEvents('n1', [at(2_400, 'crashloop.entered'), at(2_500, 'probe.passing')], pos(10));
    expect(foldRuntime(s, app, DEPLOY)).toMatchObject({ state: 'crash-looping', crashLooping: true, probe: 'passing' });
    s.storeEvents('n1', [at(2_600, 'crashloop.left')], pos(11));
    expect(foldRuntime(s, app, DEPLOY)).toMatchObject({ state: 'running', crashLooping: false });
    s.storeEvents('n1', [at(2_700, 'app.stopped')], pos(12));
    expect(foldRuntime(s, app, DEPLOY)).toMatchObject({ state: 'stopped' });
    s.storeEvents('n1', [at(2_800, 'app.started'), at(2_800, 'container.started')], pos(14));
    expect(foldRuntime(s, app, DEPLOY)).toMatchObject({ state: 'running', restarts: 2, lastEventAtMs: 2_800 });
    // A later deploy starts the count afresh.
    expect(foldRuntime(s, app, 2_150)).toMatchObject({ restarts: 1 });
    // Another app's events are not this app's.
    expect(foldRuntime(s, { name: 'api', node: 'n1' }, 0)).toMatchObject({ state: 'unknown' });
  });
});
