// The Logs and ListContainers RPCs' logic against a REAL rootful Podman REST socket started
// here, with the local test app image: history with timestamps and tail, bounded buffering
// (the sink's backpressure is obeyed), following across a replaced container, the end of a
// given release's stream, and the container list. Cleans up what it made.
import { startPodmanService, stopPodmanService } from './podman/podman-test-service';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogChunk, LogsRequest } from '../proto/gen/podploy/agent/v1/agent';
import type { LiveRelease } from './deploy/app-state';
import { listAppContainers, LogsRefused, streamLogs, TAIL_ALL, type AppView, type ChunkSink, type LogsDeps } from './logs-rpc';
import { PodmanClient } from './podman/client';
import { createContainer, podployLabels, removeContainer, startContainer, stopContainer, waitForContainer } from './podman/containers';

const TEST_APP = 'localhost/podploy-test-app:latest';
const run = randomBytes(4).toString('hex');
const APP = `pplogs-${run}`;
const socket = `/tmp/pp-logs-${run}.sock`;
const podman = new PodmanClient(socket);
let service: ChildProcess | undefined;

const live = new Map<string, LiveRelease>();
const openGates = new Set<string>();
const apps: AppView = { live: (app) => live.get(app), gateOpen: (app, slot) => openGates.has(`${app}/${slot}`) };
const deps: LogsDeps = { nodeId: 'n1', podman, apps, log: pino({ level: 'silent' }) };

beforeAll(async () => {
  service = await startPodmanService(socket);
}, 30_000);

afterAll(async () => {
  await stopPodmanService(service, socket, { app: APP });
}, 60_000);

async function start(name: string, release: string, slot: string, script: string): Promise<string> {
  const full = `${APP}-${name}`;
  await createContainer(podman, { name: full, image: TEST_APP, command: ['sh', '-c', script], labels: podployLabels({ app: APP, release, slot }), stopGraceSeconds: 2 });
  await startContainer(podman, full);
  return full;
}

function liveAs(container: string, release: string, slot: 'a' | 'b'): LiveRelease {
  return { slot, release, container, image: TEST_APP, imageId: '', digest: 'sha256:test', stopGraceMs: 2_000, since: new Date().toISOString() };
}

// Collects chunks; optionally full after every write until drained() is called and resolves.
function collector(opts: { alwaysFull?: boolean } = {}) {
  const chunks: LogChunk[] = [];
  let full = false;
  let violations = 0;
  const sink: ChunkSink = {
    write(chunk) {
      if (full) violations++;
      chunks.push(chunk);
      full = !!opts.alwaysFull;
      return !full;
    },
    drained: () =>
      new Promise((r) =>
        setTimeout(() => {
          full = false;
          r();
        }, 2),
      ),
  };
  return {
    sink,
    chunks,
    lines: () => chunks.flatMap((c) => c.lines),
    notices: () => chunks.map((c) => c.notice).filter(Boolean),
    violations: () => violations,
  };
}

const KEEP_RUNNING = `trap 'exit 0' TERM; while true; do sleep 1; done`;

function request(r: Partial<LogsRequest>): LogsRequest {
  return { app: APP, follow: false, tail: TAIL_ALL, sinceMs: 0, release: '', ...r };
}

describe('Logs', () => {
  it('reads the live container history with stream tags and Podman timestamps; tail keeps the last lines', async () => {
    const before = Date.now() - 2_000;
    const c = await start('hist', 'r1', 'a', `for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; ${KEEP_RUNNING}`);
    live.set(APP, liveAs(c, 'r1', 'a'));
    await eventually(async () => {
      const got = collector();
      await streamLogs(request({}), deps, got.sink, new AbortController().signal);
      return got.lines().length === 6 || undefined;
    }, 10_000);
    const got = collector();
    await streamLogs(request({}), deps, got.sink, new AbortController().signal);
    const lines = got.lines();
    expect(lines.map((l) => `${l.stream}:${l.line}`)).toEqual(['stdout:line 1', 'stdout:line 2', 'stdout:line 3', 'stdout:line 4', 'stdout:line 5', 'stderr:oops']);
    for (const l of lines) {
      expect(l.container).toBe(c);
      expect(l.release).toBe('r1');
      // Podman's timestamp, whole seconds: not the time of reading.
      expect(l.atMs % 1_000).toBe(0);
      expect(l.atMs).toBeGreaterThanOrEqual(before);
      expect(l.atMs).toBeLessThanOrEqual(Date.now());
    }
    const tail = collector();
    await streamLogs(request({ tail: 2 }), deps, tail.sink, new AbortController().signal);
    expect(tail.lines().map((l) => l.line)).toEqual(['line 5', 'oops']);
    const none = collector();
    await streamLogs(request({ tail: 0 }), deps, none.sink, new AbortController().signal);
    expect(none.lines()).toEqual([]);
    const future = collector();
    await streamLogs(request({ sinceMs: Date.now() + 60_000 }), deps, future.sink, new AbortController().signal);
    expect(future.lines()).toEqual([]);
    await removeContainer(podman, c, { force: true });
  });

  it('never writes while the sink is full: it waits for drained() and loses nothing', async () => {
    const c = await start('busy', 'r9', 'b', `i=0; while [ $i -lt 20000 ]; do echo "busy line $i"; i=$((i+1)); done; ${KEEP_RUNNING}`);
    await eventually(async () => {
      const got = collector();
      await streamLogs(request({ release: 'r9', tail: 1 }), deps, got.sink, new AbortController().signal);
      return got.lines()[0]?.line === 'busy line 19999' || undefined;
    }, 30_000);
    const got = collector({ alwaysFull: true });
    await streamLogs(request({ release: 'r9' }), deps, got.sink, new AbortController().signal);
    expect(got.violations()).toBe(0);
    const lines = got.lines();
    expect(lines.length).toBe(20_000);
    expect(lines[19_999].line).toBe('busy line 19999');
    // Chunked: far fewer messages than lines.
    expect(got.chunks.length).toBeLessThan(2_000);
    await removeContainer(podman, c, { force: true });
  });

  it('follows the live release across a replacement, says so, and stops when cancelled', async () => {
    const a = await start('fa', 'r2', 'a', `echo from-a; ${KEEP_RUNNING}`);
    live.set(APP, liveAs(a, 'r2', 'a'));
    const got = collector();
    const abort = new AbortController();
    const done = streamLogs(request({ follow: true, tail: TAIL_ALL }), deps, got.sink, abort.signal);
    await eventually(() => got.lines().some((l) => l.line === 'from-a') || undefined, 10_000);

    const b = await start('fb', 'r3', 'b', `echo from-b; ${KEEP_RUNNING}`);
    live.set(APP, liveAs(b, 'r3', 'b'));
    await stopContainer(podman, a, { graceSeconds: 2 });
    await eventually(() => got.lines().some((l) => l.line === 'from-b') || undefined, 15_000);
    expect(got.notices().join('\n')).toMatch(/release r3 is live now \(container .*-fb\); following it/);
    expect(got.lines().find((l) => l.line === 'from-b')?.release).toBe('r3');

    let ended = false;
    void done.then(() => (ended = true));
    abort.abort();
    await eventually(() => ended || undefined, 5_000);
    await removeContainer(podman, a, { force: true });
  });

  it("ends a given release's follow when its container stops, with a last notice", async () => {
    const c = await start('rel', 'r4', 'a', `echo from-r4; ${KEEP_RUNNING}`);
    await waitForContainer(podman, c, 'running', { timeoutMs: 5_000 });
    const got = collector();
    const done = streamLogs(request({ follow: true, release: 'r4' }), deps, got.sink, new AbortController().signal);
    await eventually(() => got.lines().some((l) => l.line === 'from-r4') || undefined, 10_000);
    await stopContainer(podman, c, { graceSeconds: 2 });
    await done;
    expect(got.notices().at(-1)).toMatch(/release r4\) stopped \(exited, exit code 0\); the stream ends/);
  });

  it('refuses an unknown app or release with not_found', async () => {
    await expect(streamLogs(request({ app: 'no-such-app' }), deps, collector().sink, new AbortController().signal)).rejects.toThrow(LogsRefused);
    await expect(streamLogs(request({ release: 'r-none' }), deps, collector().sink, new AbortController().signal)).rejects.toThrow(/no container for release r-none/);
  });
});

describe('ListContainers', () => {
  it("lists the app's containers with release, slot, state, start time, digest and serving", async () => {
    const a = await start('ps', 'r5', 'a', KEEP_RUNNING);
    live.set(APP, liveAs(a, 'r5', 'a'));
    openGates.add(`${APP}/a`);
    const { containers } = await listAppContainers(APP, deps);
    const mine = containers.find((c) => c.name === a)!;
    expect(mine).toMatchObject({ app: APP, release: 'r5', slot: 'a', state: 'running', serving: true, imageDigest: 'sha256:test' });
    expect(mine.startedAtMs).toBeGreaterThan(Date.now() - 60_000);
    // Serving is listed first; a container in a slot whose gate is closed does not serve.
    expect(containers[0].name).toBe(a);
    expect(containers.filter((c) => c.serving).map((c) => c.name)).toEqual([a]);
    expect((await listAppContainers('no-such-app', deps)).containers).toEqual([]);
  });
});

async function eventually<T>(fn: () => Promise<T> | T, timeoutMs: number): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`not within ${timeoutMs} ms: ${String(last ?? 'no value')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
