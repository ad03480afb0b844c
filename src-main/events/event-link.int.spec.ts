// A real nats-server set up as a node's, the control plane's event link reading it into a real
// SQLite database.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { CONTROL_PLANE_CONSUMER, EVENTS_STREAM, EVENTS_SUBJECT_PREFIX } from '../../proto/node-events';
import type { AppRuntime, MetricsPoint, NodeEventSummary } from '../api/contract';
import { apps, nodes } from '../db/schema';
import { openDatabase, type Db } from '../db/database';
import { EventLinkManager, LIVE_PUSH_MAX } from './event-link-manager';
import { EventStore } from './event-store';
import { TestNatsServer } from './nats-test-server';
import { LOST_EVENT_KIND } from './stream-reader';

const NODE = 'node-1';
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

interface Setup {
  nats: TestNatsServer;
  db: Db;
  store: EventStore;
  manager: EventLinkManager;
  pushed: NodeEventSummary[];
  runtimes: AppRuntime[];
  samples: MetricsPoint[];
  warnings: string[];
  count(): number;
}

async function setup(opts: { eventsMaxMsgs?: number; port?: () => number } = {}): Promise<Setup> {
  const nats = new TestNatsServer({ eventsMaxMsgs: opts.eventsMaxMsgs });
  await nats.start();
  cleanup.push(() => nats.destroy());
  const dir = mkdtempSync(join(tmpdir(), 'pp-events-'));
  const db = openDatabase(join(dir, 'test.db'));
  cleanup.push(() => {
    db.$client.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const store = new EventStore(db);
  const pushed: NodeEventSummary[] = [];
  const runtimes: AppRuntime[] = [];
  const samples: MetricsPoint[] = [];
  const warnings: string[] = [];
  const manager = new EventLinkManager({
    db,
    store,
    endpoint: async () => ({ host: '127.0.0.1', port: opts.port ? opts.port() : nats.port }),
    nkeySeed: () => nats.controlPlaneSeed,
    nodeName: (id) => (id === NODE ? 'n1' : id),
    nodeIds: () => [NODE],
    publish: { event: (e) => pushed.push(e), metrics: (m) => samples.push(m), runtime: (r) => runtimes.push(r) },
    log: { info: () => {}, warn: (m) => warnings.push(m) },
  });
  manager.start();
  cleanup.push(() => manager.stop());
  const count = () => (db.$client.prepare('SELECT COUNT(*) AS n FROM node_events WHERE node_id = ?').get(NODE) as { n: number }).n;
  return { nats, db, store, manager, pushed, runtimes, samples, warnings, count };
}

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// A TCP relay standing in for the SSH forward; cut() drops every connection through it.
async function relay(target: () => number): Promise<{ port: number; cut(): void; close(): Promise<void> }> {
  const socks = new Set<Socket>();
  const server: Server = createServer((s) => {
    const up = tcpConnect(target(), '127.0.0.1');
    socks.add(s).add(up);
    s.pipe(up).pipe(s);
    const drop = () => {
      s.destroy();
      up.destroy();
      socks.delete(s);
      socks.delete(up);
    };
    s.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    cut: () => {
      for (const s of socks) s.destroy();
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('event link (real nats-server)', () => {
  it('stores 20,000 buffered events exactly once and in order (its rate: bench/events-throughput)', async () => {
    const s = await setup();
    const events = Array.from({ length: 20_000 }, () => s.nats.event({ app: 'web' }));
    await s.nats.publish(events);
    s.manager.attach(NODE);
    await until('20,000 stored', () => s.count() === 20_000);
    const seqs = (s.db.$client.prepare('SELECT seq FROM node_events ORDER BY rowid').all() as { seq: number }[]).map((r) => r.seq);
    expect(seqs).toEqual(events.map((e) => e.seq));
    expect(s.manager.status()).toEqual([expect.objectContaining({ node: 'n1', connected: true, stored: 20_000, lastStreamSeq: 20_000, lost: 0, error: null })]);
    // A backlog is not replayed live in full: only the newest of each batch.
    expect(s.pushed.length).toBeLessThan(20_000);
    expect(s.pushed.length).toBeGreaterThanOrEqual(LIVE_PUSH_MAX);
    expect(s.pushed.at(-1)!.id).toBe(events.at(-1)!.id);

    // Live: events published while the link runs arrive within moments, each pushed.
    const before = s.pushed.length;
    const live = Array.from({ length: 5 }, () => s.nats.event({ app: 'web', kind: 'restart.done' }));
    const t1 = performance.now();
    await s.nats.publish(live);
    await until('5 live events', () => s.pushed.length === before + 5, 5_000);
    console.log(`[events] live event stored and pushed within ${(performance.now() - t1).toFixed(0)} ms`);
    expect(s.pushed.slice(-5).map((e) => e.id)).toEqual(live.map((e) => e.id));

    // Sustained: publishing and storing at once.
    const burst = Array.from({ length: 20_000 }, () => s.nats.event());
    const t2 = performance.now();
    await s.nats.publish(burst);
    await until('burst stored', () => s.count() === 40_005);
    const sustained = Math.round(20_000 / ((performance.now() - t2) / 1000));
    console.log(`[events] sustained publish -> SQLite: ${sustained} events/s (publisher included)`);
  });

  it('resumes after the connection is cut mid-stream: none missing, none duplicated', async () => {
    let natsPort = 0;
    const r = await relay(() => natsPort);
    cleanup.push(() => r.close());
    const s = await setup({ port: () => r.port });
    natsPort = s.nats.port;
    const events = Array.from({ length: 20_000 }, () => s.nats.event());
    s.manager.attach(NODE);
    const publishing = s.nats.publish(events);
    await until('a first part stored', () => s.count() >= 3_000);
    r.cut();
    await until('a second part stored', () => s.count() >= 9_000);
    await s.manager.link(NODE)!.interrupt();
    await publishing;
    await until('all 20,000 stored', () => s.count() === 20_000, 45_000);
    const stats = s.db.$client.prepare('SELECT COUNT(DISTINCT id) AS ids, COUNT(DISTINCT seq) AS seqs, MIN(seq) AS lo, MAX(seq) AS hi FROM node_events').get();
    expect(stats).toEqual({ ids: 20_000, seqs: 20_000, lo: events[0].seq, hi: events.at(-1)!.seq });
    expect(s.manager.status()[0]).toMatchObject({ stored: 20_000, lost: 0 });
    expect(s.warnings.filter((w) => /lost/.test(w))).toEqual([]);
  });

  it('a redelivered stream changes nothing', async () => {
    const s = await setup();
    const events = Array.from({ length: 1_000 }, () => s.nats.event());
    await s.nats.publish(events);
    s.manager.attach(NODE);
    await until('1,000 stored', () => s.count() === 1_000);
    const pushedBefore = s.pushed.length;
    const snapshot = s.db.$client.prepare('SELECT * FROM node_events ORDER BY rowid').all();

    // The node forgets the consumer: the control plane creates it again and reads the whole
    // stream a second time.
    const nc = await connect({ servers: `127.0.0.1:${s.nats.port}`, authenticator: nkeyAuthenticator(s.nats.agentKey.getSeed()) });
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.delete(EVENTS_STREAM, CONTROL_PLANE_CONSUMER);
    await s.manager.link(NODE)!.interrupt();
    await until('the stream read again', () => {
      return s.manager.link(NODE)!.connected;
    });
    let acked = 0;
    await until(
      'every message acked again',
      () => {
        void jsm.consumers
          .info(EVENTS_STREAM, CONTROL_PLANE_CONSUMER)
          .then((i) => (acked = i.ack_floor.stream_seq))
          .catch(() => {});
        return acked === 1_000;
      },
      20_000,
    );
    await nc.close();
    expect(s.db.$client.prepare('SELECT * FROM node_events ORDER BY rowid').all()).toEqual(snapshot);
    expect(s.pushed.length).toBe(pushedBefore);
    expect(s.manager.status()[0].stored).toBe(1_000);
  });

  it('counts and warns about events the node stream dropped before they were read', async () => {
    const s = await setup({ eventsMaxMsgs: 100 });
    const events = Array.from({ length: 250 }, () => s.nats.event());
    await s.nats.publish(events);
    s.manager.attach(NODE);
    await until('the newest 100 stored', () => s.count() >= 100);
    await until('the loss recorded', () => s.manager.status()[0].lost > 0);
    await s.manager.link(NODE)!.settled();
    expect(s.manager.status()[0]).toMatchObject({ lost: 150, lastStreamSeq: 250 });
    expect(s.warnings.join('\n')).toMatch(/150 events from node 'n1' were lost: the node's stream reached its limit/);
    const stored = s.store.list({ nodeId: NODE, limit: 1_000 });
    // The newest 100 are kept, and one warning in the node's timeline sits just before them.
    expect(stored.filter((e) => e.kind !== LOST_EVENT_KIND).map((e) => e.id)).toEqual(events.slice(150).reverse().map((e) => e.id));
    const lost = stored.filter((e) => e.kind === LOST_EVENT_KIND);
    expect(lost).toEqual([expect.objectContaining({ severity: 'warning', data: { lost: 150, fromStreamSeq: 1, toStreamSeq: 150 } })]);
    expect(stored.at(-1)!.kind).toBe(LOST_EVENT_KIND);
    expect(s.pushed.some((e) => e.kind === LOST_EVENT_KIND)).toBe(true);

    // Reading again from there loses nothing more.
    const more = Array.from({ length: 50 }, () => s.nats.event());
    await s.nats.publish(more);
    await until('50 more', () => s.count() === 101 + 50);
    await s.manager.link(NODE)!.settled();
    expect(s.manager.status()[0].lost).toBe(150);
  });

  it('accounts for events that expired unread with nothing newer after them', async () => {
    const s = await setup();
    await s.nats.publish(Array.from({ length: 10 }, () => s.nats.event()));
    s.manager.attach(NODE);
    await until('10 stored', () => s.count() === 10);
    await s.manager.detach(NODE);
    await s.nats.publish(Array.from({ length: 30 }, () => s.nats.event()));
    // Purging stands in for max-age expiry: the stream is empty, its first sequence moved on.
    const nc = await connect({ servers: `127.0.0.1:${s.nats.port}`, authenticator: nkeyAuthenticator(s.nats.agentKey.getSeed()) });
    await (await jetstreamManager(nc)).streams.purge(EVENTS_STREAM);
    await nc.close();
    s.manager.attach(NODE);
    await until('the loss recorded', () => s.manager.status()[0].lost === 30);
    expect(s.manager.status()[0]).toMatchObject({ lastStreamSeq: 40, stored: 10 });
    expect(s.store.list({ nodeId: NODE, limit: 5, kinds: ['events'] })).toEqual([expect.objectContaining({ data: { lost: 30, fromStreamSeq: 11, toStreamSeq: 40 } })]);
  });

  it("pushes an app's runtime when it changes, and metrics samples", async () => {
    const s = await setup();
    s.db.insert(nodes).values({ id: NODE, name: 'n1', host: 'h', port: 22, sshUser: 'u', hostKeyFingerprint: 'f', hostKey: 'k', sshAuth: Buffer.alloc(1), agentPort: 1, serviceMode: 'supervisor', agentVersion: 'v', agentSha256: 's', labels: {}, createdAt: 0 }).run();
    s.db.insert(apps).values({ id: 'a1', name: 'web', nodeId: NODE, spec: {}, createdAt: 0, updatedAt: 0 }).run();
    s.manager.attach(NODE);
    await s.nats.publish([s.nats.event({ app: 'web', kind: 'container.died' }), s.nats.event({ app: 'web', kind: 'restart.scheduled' })]);
    await until('restarting', () => s.runtimes.at(-1)?.state === 'restarting');
    await s.nats.publish([s.nats.event({ app: 'web', kind: 'restart.done' })]);
    await until('running again', () => s.runtimes.at(-1)?.state === 'running');
    expect(s.runtimes.at(-1)).toMatchObject({ app: 'web', node: 'n1', restarts: 1, crashLooping: false });
    const published = s.runtimes.length;
    // Nothing changed for the app: nothing pushed.
    await s.nats.publish([s.nats.event({ app: 'web', kind: 'container.started' }), s.nats.event({ app: 'web', kind: 'deploy.step' })]);
    await until('stored', () => s.count() === 5);
    expect(s.runtimes.length).toBe(published);

    const at = Date.now();
    await s.nats.publishSamples([0, 1, 2].map((i) => ({ id: `m${i}`, node: NODE, atMs: at + i, app: 'web', container: 'web-1', cpuPercent: i, memBytes: 1_000 + i, memLimitBytes: 10_000, restarts: 1 })));
    await until('3 samples pushed', () => s.samples.length === 3);
    expect(s.store.metrics('web', 0, 10).map((m) => m.cpuPercent)).toEqual([0, 1, 2]);
    expect(s.samples[0]).toEqual({ node: 'n1', app: 'web', container: 'web-1', atMs: at, cpuPercent: 0, memBytes: 1_000, memLimitBytes: 10_000, restarts: 1 });
  });

  it('drops a malformed message with a warning and keeps reading', async () => {
    const s = await setup();
    await s.nats.publish([s.nats.event()]);
    await s.nats.publishRaw(`${EVENTS_SUBJECT_PREFIX}.container.started`, '{not json');
    await s.nats.publishRaw(`${EVENTS_SUBJECT_PREFIX}.container.started`, JSON.stringify({ id: 'x', seq: 'one', atMs: 1, kind: 'a', message: '' }));
    const good = s.nats.event({ node: 'some-other-node', data: { exitCode: 137, why: 'x'.repeat(1_000) } });
    await s.nats.publish([good]);
    s.manager.attach(NODE);
    await until('2 stored', () => s.count() === 2);
    await until('2 warnings', () => s.warnings.filter((w) => /malformed/.test(w)).length === 2);
    const row = s.store.event(good.id)!;
    // Stored under the link's node whatever the message claims, with capped fields.
    expect(row.nodeId).toBe(NODE);
    expect((row.data!.why as string).length).toBe(256);
    expect(s.manager.status()[0]).toMatchObject({ lastStreamSeq: 4, lost: 0 });
  });

  it('says clearly when the node refuses the key or is unreachable, and keeps retrying', async () => {
    const s = await setup();
    const wrong = new TestNatsServer();
    cleanup.push(() => wrong.destroy());
    const m2 = new EventLinkManager({
      db: s.db,
      store: s.store,
      endpoint: async () => ({ host: '127.0.0.1', port: s.nats.port }),
      nkeySeed: () => wrong.controlPlaneSeed,
      nodeName: () => 'n1',
      nodeIds: () => [NODE],
      publish: { event: () => {}, metrics: () => {}, runtime: () => {} },
      log: { info: () => {}, warn: () => {} },
    });
    cleanup.push(() => m2.stop());
    m2.attach(NODE);
    await until('an error', () => !!m2.status()[0].error);
    expect(m2.status()[0]).toMatchObject({ connected: false, error: expect.stringMatching(/node 'n1' refused the control plane's NATS key.*onboard the node again/) });
    await s.nats.stop();
    s.manager.attach(NODE);
    await until('an error', () => !!s.manager.status()[0].error);
    expect(s.manager.status()[0].error).toMatch(/cannot reach nats-server on node 'n1'/);
    // nats-server comes back (same port, same data): the link reconnects by itself.
    await s.nats.start();
    await s.nats.publish([s.nats.event()]);
    await until('stored after restart', () => s.count() === 1, 20_000);
    expect(s.manager.status()[0]).toMatchObject({ connected: true, error: null });
  });
});
