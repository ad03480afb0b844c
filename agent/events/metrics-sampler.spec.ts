// The sampler against a REAL Podman REST socket (podman-test-service) with two containers of the
// test image: one burning a CPU, one idle with a memory limit.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodmanClient } from '../podman/client';
import { createContainer, podployLabels, startContainer } from '../podman/containers';
import { startPodmanService, stopPodmanService } from '../podman/podman-test-service';
import type { MetricsSampleInput } from './event-publisher';
import { MetricsSampler } from './metrics-sampler';
import { memoryLogger } from './nats-test-node';

const TEST_APP = 'localhost/podploy-test-app:latest';
const run = randomBytes(4).toString('hex');
const APP = `ppmetrics-${run}`;
const socket = `/tmp/pp-podman-metrics-${run}.sock`;
const podman = new PodmanClient(socket);
let service: ChildProcess | undefined;
const busy = `${APP}-busy`;
const idle = `${APP}-idle`;
const MEM_LIMIT = 64 * 1024 * 1024;

beforeAll(async () => {
  service = await startPodmanService(socket);
  const labels = podployLabels({ app: APP, release: 'r1', slot: 1 });
  await createContainer(podman, { name: busy, image: TEST_APP, entrypoint: ['/bin/busybox', 'sh', '-c', 'while :; do :; done'], labels, stopGraceSeconds: 1 });
  await createContainer(podman, { name: idle, image: TEST_APP, labels, memoryBytes: MEM_LIMIT, stopGraceSeconds: 1 });
  await startContainer(podman, busy);
  await startContainer(podman, idle);
}, 60_000);

afterAll(async () => {
  await stopPodmanService(service, socket, { app: APP });
}, 30_000);

describe('MetricsSampler (real Podman)', () => {
  it('samples every live container in one call: CPU since the last sample, memory, limit and restarts', async () => {
    const published: MetricsSampleInput[] = [];
    const { log } = memoryLogger();
    const live = { busy: { container: busy, release: 'r7' }, idle: { container: idle, release: 'r2' }, gone: { container: `${APP}-missing` } };
    const sampler = new MetricsSampler({ podman, live: () => live, restarts: (app) => (app === 'busy' ? 3 : 0), publish: (s) => published.push(s), log });
    await sampler.sampleOnce();
    await new Promise((r) => setTimeout(r, 1_000));
    const second = await sampler.sampleOnce();
    expect(second.map((s) => s.app).sort()).toEqual(['busy', 'idle']);
    expect(published).toHaveLength(4);
    const b = second.find((s) => s.app === 'busy')!;
    const i = second.find((s) => s.app === 'idle')!;
    console.log(`[metrics] busy ${b.cpuPercent}% CPU, idle ${i.cpuPercent}% CPU, ${i.memBytes} of ${i.memLimitBytes} bytes`);
    expect(b).toMatchObject({ container: busy, release: 'r7', restarts: 3 });
    // A busy loop holds one core over the last second (the machine is shared: allow a margin).
    expect(b.cpuPercent).toBeGreaterThan(20);
    expect(i.cpuPercent).toBeLessThan(10);
    expect(i.memLimitBytes).toBe(MEM_LIMIT);
    expect(i.memBytes).toBeGreaterThan(0);
    expect(i.restarts).toBe(0);
  });

  it('publishes on its interval and survives Podman going away', async () => {
    const published: MetricsSampleInput[] = [];
    const { log, lines } = memoryLogger();
    const sampler = new MetricsSampler({ podman, live: () => ({ idle: { container: idle } }), restarts: () => 0, publish: (s) => published.push(s), log, intervalMs: 100 });
    sampler.start();
    await new Promise((r) => setTimeout(r, 550));
    await sampler.stop();
    expect(published.length).toBeGreaterThanOrEqual(3);

    const nowhere = new MetricsSampler({ podman: new PodmanClient('/tmp/nonexistent.sock'), live: () => ({ idle: { container: idle } }), restarts: () => 0, publish: (s) => published.push(s), log, intervalMs: 50 });
    nowhere.start();
    await new Promise((r) => setTimeout(r, 300));
    await nowhere.stop();
    expect(lines.filter((l) => l.event === 'metrics_failed')).toHaveLength(1);
  });
});
