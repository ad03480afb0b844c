import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_PLANE_CONSUMER, EVENTS_STREAM, METRICS_STREAM, type MetricsSample, type NodeEvent } from '../../proto/node-events';
import { EventPublisher, type EventPublisherOptions } from './event-publisher';
import { AGENT_INBOX_PREFIX, streamLimitsOf } from './nats-config';
import { NatsProcess, natsProcessOptions } from './nats-process';
import { memoryLogger, startTestNode, type TestNode } from './nats-test-node';

// Everything in a stream, read as the control plane reads it: its durable consumer, acked.
async function readAll<T>(nc: NatsConnection, stream: string, expected: number, timeoutMs = 20_000): Promise<Array<T & { streamSeq: number }>> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  await jsm.consumers.add(stream, { durable_name: CONTROL_PLANE_CONSUMER, ack_policy: AckPolicy.Explicit });
  const consumer = await jetstream(nc).consumers.get(stream, CONTROL_PLANE_CONSUMER);
  const out: Array<T & { streamSeq: number }> = [];
  const until = Date.now() + timeoutMs;
  while (out.length < expected && Date.now() < until) {
    const batch = await consumer.fetch({ max_messages: 1_000, expires: 1_000 });
    for await (const m of batch) {
      out.push({ ...(m.json() as T), streamSeq: m.seq });
      m.ack();
    }
  }
  // Nothing beyond what was expected either.
  const info = await consumer.info();
  if (info.num_pending > 0) throw new Error(`${info.num_pending} messages beyond the ${expected} expected in ${stream}`);
  return out;
}

function expectInOrderOnce(events: Array<NodeEvent & { streamSeq: number }>, count: number): void {
  expect(events).toHaveLength(count);
  expect(new Set(events.map((e) => e.id)).size).toBe(count);
  for (let i = 1; i < events.length; i++) {
    expect(events[i].seq).toBeGreaterThan(events[i - 1].seq);
    expect(events[i].streamSeq).toBeGreaterThan(events[i - 1].streamSeq);
  }
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('EventPublisher against a real nats-server', () => {
  let node: TestNode;
  const open: Array<EventPublisher | NatsConnection | NatsProcess> = [];
  const publisher = (extra: Partial<EventPublisherOptions> = {}, n: TestNode = node) => {
    const p = new EventPublisher({ nodeId: 'node-1', port: n.nats.port, agentSeed: n.nats.agentSeed, stateDir: n.config.stateDir, limits: streamLimitsOf(n.nats), log: n.log, ...extra });
    open.push(p);
    p.start();
    return p;
  };
  // The agent's own user: the control plane may not fetch single messages.
  const agentJsm = async (n: TestNode = node) => {
    const nc = await connect({ servers: `127.0.0.1:${n.nats.port}`, authenticator: nkeyAuthenticator(new TextEncoder().encode(n.nats.agentSeed)), inboxPrefix: AGENT_INBOX_PREFIX });
    open.push(nc);
    return jetstreamManager(nc, { checkAPI: false });
  };
  const controlPlane = async (n: TestNode = node) => {
    const nc = await n.connectControlPlane();
    open.push(nc);
    return nc;
  };

  beforeAll(async () => {
    node = await startTestNode();
  });
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await (o instanceof NatsProcess ? o.stop() : o.close());
  });
  afterAll(async () => node?.stop());

  it('publishes 10,000 events in order, each once, and numbers them on across agent restarts', async () => {
    const p = publisher();
    const n = 10_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) p.emit({ kind: 'deploy.step', app: 'web', message: `step ${i}`, data: { i } });
    expect(await p.flushed(30_000)).toBe(true);
    const ms = performance.now() - t0;
    console.log(`[events] ${n} events published in ${ms.toFixed(0)} ms: ${Math.round((n / ms) * 1000)} events/s`);
    expect(p.stats()).toEqual({ queued: 0, published: n, failed: 0, dropped: 0 });

    const events = await readAll<NodeEvent>(await controlPlane(), EVENTS_STREAM, n);
    expectInOrderOnce(events, n);
    expect(events.map((e) => e.data?.i)).toEqual([...Array(n).keys()]);
    expect(events[0]).toMatchObject({ node: 'node-1', kind: 'deploy.step', severity: 'info', app: 'web', message: 'step 0' });
    expect(events[0].id).toMatch(/^\w{16,}$/);

    // An agent restart continues the numbering above everything before.
    await p.close();
    const again = publisher();
    again.emit({ kind: 'agent.started', message: 'agent started' });
    expect(await again.flushed(5_000)).toBe(true);
    const jsm = await agentJsm();
    const last = await jsm.streams.getMessage(EVENTS_STREAM, { last_by_subj: 'podploy.events.agent.started' });
    expect(last!.json<NodeEvent>().seq).toBeGreaterThan(events[n - 1].seq);
  });

  it.each(['SIGTERM', 'SIGKILL'] as const)('loses and duplicates nothing when nats-server restarts (%s) in the middle of a burst', async (signal) => {
    const n2 = await startTestNode();
    try {
      const p = publisher({}, n2);
      const n = 20_000;
      const killedAt = n / 2;
      let publishedAtKill = -1;
      for (let i = 0; i < n; i++) {
        p.emit({ kind: 'container.died', app: 'api', message: `died ${i}`, data: { i } });
        if (i % 500 === 499) await new Promise((r) => setImmediate(r));
        if (i === killedAt) {
          publishedAtKill = p.stats().published;
          process.kill(n2.process.pid!, signal);
        }
      }
      // Truly mid-burst: some events were stored before, most after.
      expect(publishedAtKill).toBeGreaterThan(0);
      expect(publishedAtKill).toBeLessThan(killedAt);
      expect(await p.flushed(30_000)).toBe(true);
      expect(n2.lines.some((l) => l.event === 'nats_exited')).toBe(true);
      expect(n2.lines.some((l) => l.event === 'events_waiting')).toBe(true);
      const events = await readAll<NodeEvent>(await controlPlane(n2), EVENTS_STREAM, n);
      expectInOrderOnce(events, n);
      expect(events.map((e) => e.data?.i)).toEqual([...Array(n).keys()]);
      console.log(`[events] nats-server ${signal} mid-burst after ${publishedAtKill} stored: ${events.length} of ${n} stored, ${n2.lines.filter((l) => l.event === 'events_waiting').length} outage(s)`);
    } finally {
      for (const o of open.splice(0).reverse()) await (o instanceof NatsProcess ? o.stop() : o.close());
      await n2.stop();
    }
  });

  it('warns once when a stream nears its limit, keeps the newest events and goes on', async () => {
    const small = await startTestNode({ eventsMaxMsgs: 1_000 });
    try {
      const p = publisher({ streamCheckIntervalMs: 50 }, small);
      for (let i = 0; i < 1_500; i++) p.emit({ kind: 'probe.failing', app: 'web', message: `probe ${i}`, data: { i } });
      expect(await p.flushed(10_000)).toBe(true);
      await until(() => small.lines.some((l) => l.event === 'stream_near_limit'), 5_000, 'the near-limit warning');
      for (let i = 1_500; i < 2_000; i++) p.emit({ kind: 'probe.failing', app: 'web', message: `probe ${i}`, data: { i } });
      expect(await p.flushed(10_000)).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      const warnings = small.lines.filter((l) => l.event === 'stream_near_limit');
      expect(warnings).toHaveLength(1);
      expect(warnings[0].msg).toMatch(/PODPLOY_EVENTS is at \d+% of its limit \(\d+ of 1000 messages\); the oldest messages are dropped first/);

      const nc = await controlPlane(small);
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      const info = await jsm.streams.info(EVENTS_STREAM);
      expect(info.state.messages).toBe(1_000);
      const events = await readAll<NodeEvent>(nc, EVENTS_STREAM, 1_000);
      expect(events).toHaveLength(1_000);
      const probes = events.filter((e) => e.kind === 'probe.failing');
      expect(probes.at(-1)!.data?.i).toBe(1_999);
      expect(probes[0].data?.i).toBeGreaterThan(999);
      const warning = events.find((e) => e.kind === 'agent.warning');
      expect(warning).toMatchObject({ severity: 'warning', data: { stream: EVENTS_STREAM, maxMsgs: 1_000 } });
    } finally {
      for (const o of open.splice(0).reverse()) await (o instanceof NatsProcess ? o.stop() : o.close());
      await small.stop();
    }
  });

  it('keeps a bounded queue while nats-server is down: drops the oldest with one warning, then publishes the rest', async () => {
    const down = await startTestNode();
    try {
      await down.process.stop();
      const p = publisher({ maxQueued: 100 }, down);
      for (let i = 0; i < 250; i++) p.emit({ kind: 'restart.scheduled', app: 'web', message: `restart ${i}`, data: { i } });
      expect(p.stats()).toMatchObject({ queued: 100, published: 0, dropped: 150 });
      expect(down.lines.filter((l) => l.event === 'event_queue_overflow')).toHaveLength(1);
      expect(() => {
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        p.emit({ kind: 'agent.warning', message: 'unserialisable', data: circular as never });
      }).not.toThrow();

      const back = new NatsProcess(natsProcessOptions(down.config, down.nats, down.log));
      open.push(back);
      await back.start();
      expect(await p.flushed(15_000)).toBe(true);
      const events = await readAll<NodeEvent>(await controlPlane(down), EVENTS_STREAM, 101);
      expectInOrderOnce(events, 101);
      expect(events.slice(0, 100).map((e) => e.data?.i)).toEqual([...Array(100).keys()].map((i) => i + 150));
      expect(events[100]).toMatchObject({ kind: 'agent.warning', severity: 'warning', data: { dropped: 150 } });
      expect(events[100].message).toMatch(/^150 events were dropped, oldest first/);
      expect(down.lines.filter((l) => l.event === 'event_queue_overflow')).toHaveLength(1);
    } finally {
      for (const o of open.splice(0).reverse()) await (o instanceof NatsProcess ? o.stop() : o.close());
      await down.stop();
    }
  });

  it('publishes metrics samples to the metrics stream, one subject per app', async () => {
    const p = publisher();
    p.publishMetrics({ atMs: 1_000, app: 'web', container: 'web-blue', release: 'r1', cpuPercent: 1.5, memBytes: 10, memLimitBytes: 100, restarts: 2 });
    expect(await p.flushed(5_000)).toBe(true);
    const samples = await readAll<MetricsSample>(await controlPlane(), METRICS_STREAM, 1);
    expect(samples).toHaveLength(1);
    expect(samples[0]).toMatchObject({ node: 'node-1', app: 'web', container: 'web-blue', cpuPercent: 1.5, restarts: 2 });
    const jsm = await agentJsm();
    expect((await jsm.streams.getMessage(METRICS_STREAM, { last_by_subj: 'podploy.metrics.web' }))?.json<MetricsSample>().id).toBe(samples[0].id);
  });
});
