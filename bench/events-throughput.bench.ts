// Events from an agent into the control plane's SQLite, on loopback with the real parts: the
// node's nats-server as the agent runs it (JetStream, nkeys), the agent's EventPublisher, and the
// control plane's EventLinkManager (durable consumer, batches stored, then acked).
// - sustained: EVENTS events emitted while the control plane is connected; emit -> stored.
// - catch-up: EVENTS events buffered in the node's stream while the control plane was away;
//   attach -> every one stored.
// Baseline in the same run: the same number of rows written straight into SQLite through the
// same EventStore (no NATS), the ceiling of the storage side. Target: at least 10,000 events/s.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventPublisher } from '../agent/events/event-publisher';
import { streamLimitsOf } from '../agent/events/nats-config';
import { startTestNode } from '../agent/events/nats-test-node';
import { openDatabase } from '../src-main/db/database';
import { EventLinkManager } from '../src-main/events/event-link-manager';
import { EventStore, type EventRow } from '../src-main/events/event-store';
import { report } from './report';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const NODE = 'bench-node';
const EMIT_CHUNK = 2_000;
// Stay well below the publisher's queue cap (it drops the oldest beyond it).
const QUEUE_HIGH_WATER = 20_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function emitAll(publisher: EventPublisher, from: number, count: number): Promise<void> {
  for (let i = 0; i < count; i += EMIT_CHUNK) {
    while (publisher.stats().queued > QUEUE_HIGH_WATER) await sleep(1);
    for (let j = i; j < Math.min(count, i + EMIT_CHUNK); j++) {
      publisher.emit({ kind: 'restart.scheduled', app: 'web', container: 'podploy-web-a-r1', release: 'r1', message: `web restarts in 1000 ms (attempt ${from + j})`, data: { delayMs: 1000, attempt: from + j } });
    }
    await new Promise((r) => setImmediate(r));
  }
}

function baselineRate(dir: string): number {
  const db = openDatabase(join(dir, 'baseline.db'));
  const store = new EventStore(db);
  const rows: EventRow[] = Array.from({ length: EVENTS }, (_, i) => ({
    id: `b${i}`, nodeId: NODE, seq: i + 1, streamSeq: i + 1, atMs: Date.now(), receivedAtMs: Date.now(), kind: 'restart.scheduled', severity: 'info',
    app: 'web', container: 'podploy-web-a-r1', release: 'r1', message: `web restarts in 1000 ms (attempt ${i})`, data: { delayMs: 1000, attempt: i },
  }));
  const t0 = performance.now();
  for (let i = 0; i < rows.length; i += EMIT_CHUNK) store.storeEvents(NODE, rows.slice(i, i + EMIT_CHUNK), { lastStreamSeq: Math.min(rows.length, i + EMIT_CHUNK), streamCreated: null });
  const rate = EVENTS / ((performance.now() - t0) / 1000);
  db.$client.close();
  return rate;
}

export async function benchEventsThroughput(): Promise<void> {
  const node = await startTestNode({ eventsMaxMsgs: EVENTS * 4 });
  const dir = mkdtempSync(join(tmpdir(), 'pp-bench-events-'));
  const db = openDatabase(join(dir, 'control-plane.db'));
  const store = new EventStore(db);
  const quiet = { info: () => {}, warn: (m: string) => console.warn(`  warning: ${m}`) };
  const manager = new EventLinkManager({
    db,
    store,
    endpoint: async () => ({ host: '127.0.0.1', port: node.nats.port }),
    nkeySeed: () => new TextEncoder().encode(node.controlPlaneSeed),
    nodeName: () => NODE,
    nodeIds: () => [NODE],
    publish: { event: () => {}, metrics: () => {}, runtime: () => {} },
    log: quiet,
  });
  const publisher = new EventPublisher({ nodeId: NODE, port: node.nats.port, agentSeed: node.nats.agentSeed, stateDir: node.config.stateDir, limits: streamLimitsOf(node.nats), log: node.log });
  const stored = () => (db.$client.prepare('SELECT COUNT(*) AS n FROM node_events WHERE node_id = ?').get(NODE) as { n: number }).n;
  try {
    publisher.start();
    manager.start();
    manager.attach(NODE);
    // Warm up the link (consumer created, first batch stored).
    await emitAll(publisher, 0, 1_000);
    await until('warm-up stored', () => stored() === 1_000);

    const t0 = performance.now();
    await emitAll(publisher, 1_000, EVENTS);
    await until('sustained events stored', () => stored() === 1_000 + EVENTS);
    const sustained = EVENTS / ((performance.now() - t0) / 1000);

    await manager.detach(NODE);
    await emitAll(publisher, 1_000 + EVENTS, EVENTS);
    if (!(await publisher.flushed(120_000))) throw new Error('the publisher did not flush the catch-up events');
    const t1 = performance.now();
    manager.attach(NODE);
    await until('buffered events stored', () => stored() === 1_000 + 2 * EVENTS);
    const catchUpMs = performance.now() - t1;

    const unique = (db.$client.prepare('SELECT COUNT(DISTINCT seq) AS n FROM node_events WHERE node_id = ?').get(NODE) as { n: number }).n;
    if (unique !== 1_000 + 2 * EVENTS) throw new Error(`${unique} distinct events stored, expected ${1_000 + 2 * EVENTS}`);
    const baseline = baselineRate(dir);
    const f = (n: number) => `${Math.round(n).toLocaleString('en-US')} events/s`;
    report(`events: agent publisher -> node JetStream -> control plane SQLite, ${EVENTS.toLocaleString('en-US')} events each (loopback)`, {
      'sustained (emitted while connected)': f(sustained),
      [`catch-up of ${EVENTS.toLocaleString('en-US')} buffered events`]: `${(catchUpMs / 1000).toFixed(2)} s (${f(EVENTS / (catchUpMs / 1000))})`,
      'baseline: the same rows straight into SQLite': f(baseline),
      'ratio sustained / baseline': (sustained / baseline).toFixed(2),
      'stored exactly once': `${unique.toLocaleString('en-US')} distinct of ${(1_000 + 2 * EVENTS).toLocaleString('en-US')} emitted`,
      'target': 'sustained >= 10,000 events/s',
      'verdict': sustained >= 10_000 ? 'met' : 'NOT met',
    });
  } finally {
    await manager.stop();
    await publisher.close();
    db.$client.close();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
