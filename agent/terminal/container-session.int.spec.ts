// Terminal sessions in containers through the agent's real gRPC server (mutual TLS, signed opens)
// against a REAL rootful Podman REST socket started here, with the local test app image:
// TTY sessions, resize, exit codes, stdout and stderr apart, nothing left after a close, bounded
// memory under a `yes` flood with a paused reader, and the refusals. Cleans up what it made.
import { status } from '@grpc/grpc-js';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveRelease } from '../deploy/app-state';
import { PodmanClient } from '../podman/client';
import { createContainer, listContainers, PODPLOY_LABELS, podployLabels, removeContainer, startContainer, stopContainer } from '../podman/containers';
import { startPodmanService, stopPodmanService } from '../podman/podman-test-service';
import { processesMatching, startTerminalAgent, type TerminalTestAgent } from './terminal-test-harness';

const TEST_APP = 'localhost/podploy-test-app:latest';
const run = randomBytes(4).toString('hex');
const APP = `ppterm-${run}`;
const OTHER_APP = `ppterm-other-${run}`;
const socket = `/tmp/pp-term-${run}.sock`;
const podman = new PodmanClient(socket);
const KEEP_RUNNING = `trap 'exit 0' TERM; while true; do sleep 1; done`;
// What may sit between the container's output and a paused reader: gRPC's and HTTP/2's buffers.
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
const PAUSE_MS = 3_000;

let service: ChildProcess | undefined;
let agent: TerminalTestAgent;
const live = new Map<string, LiveRelease>();
let web = '';

beforeAll(async () => {
  service = await startPodmanService(socket);
  agent = await startTerminalAgent({ podmanSocket: socket, apps: { live: (app) => live.get(app), gateOpen: () => true } });
  web = await start(APP, 'web', 'r1');
  live.set(APP, { slot: 'a', release: 'r1', container: web, image: TEST_APP, imageId: '', digest: '', stopGraceMs: 2_000, since: new Date().toISOString() });
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await stopPodmanService(service, socket, {
    app: APP,
    beforeStop: async (p) => {
      for (const c of await listContainers(p, { labels: { [PODPLOY_LABELS.app]: OTHER_APP } })) await removeContainer(p, c.id, { force: true, ignoreMissing: true });
    },
  });
}, 60_000);

async function start(app: string, name: string, release: string): Promise<string> {
  const full = `${app}-${name}`;
  await createContainer(podman, { name: full, image: TEST_APP, command: ['sh', '-c', KEEP_RUNNING], labels: podployLabels({ app, release, slot: 'a' }), stopGraceSeconds: 1 });
  await startContainer(podman, full);
  return full;
}

describe('a TTY session in the live container', () => {
  it('echoes typed input with its output, follows a resize, and ends with the exit code', async () => {
    const t = agent.session({ open: agent.sign({ app: APP, cols: 100, rows: 30 }) });
    const opened = await t.waitOpened();
    expect(opened).toMatchObject({ container: web, release: 'r1', command: ['/bin/sh', '-c', expect.stringContaining('exec sh -l')] });
    expect(opened.pid).toBeGreaterThan(0);
    t.type('stty size\n');
    await t.waitFor(/30 100/);
    t.resize(120, 40);
    let seen = false;
    for (let i = 0; i < 50 && !seen; i++) {
      t.type('stty size\n');
      seen = await t.waitFor(/40 120/, 200).then(
        () => true,
        () => false,
      );
    }
    expect(seen).toBe(true);
    const n = Math.floor(Math.random() * 1e6);
    t.type(`echo hi-$((${n}+1))\n`);
    await t.waitFor(new RegExp(`echo hi-\\$\\(\\(${n}\\+1\\)\\)[\\s\\S]*hi-${n + 1}\\r\\n`));
    t.type('exit 7\n');
    const out = await t.done;
    expect(out.error).toBeUndefined();
    expect(out.exit).toEqual({ code: 7, reason: 'exited' });
    expect(agent.events.filter((e) => e.kind === 'terminal.closed').at(-1)).toMatchObject({ app: APP, container: web, data: { exitCode: 7, actor: 'alice' } });
  });

  it('without a tty: stdout and stderr apart, stdin until stdin_eof, the exit code', async () => {
    const t = agent.session({ open: agent.sign({ app: APP, container: web, tty: false, cols: 0, rows: 0, command: ['sh', '-c', 'cat; echo to-err >&2; exit 3'] }) });
    await t.waitOpened();
    t.type('line-1\n');
    t.call.write({ stdinEof: true });
    const out = await t.done;
    expect(out.exit).toEqual({ code: 3, reason: 'exited' });
    expect(t.text()).toBe('line-1\n');
    expect(t.errText()).toBe('to-err\n');
  });

  it('closing the stream ends the process and what it started: no process is left', async () => {
    const secs = 100_000 + Math.floor(Math.random() * 800_000);
    const t = agent.session({ open: agent.sign({ app: APP }) });
    await t.waitOpened();
    t.type(`sleep ${secs} & sleep ${secs + 1}\n`);
    await eventually(() => processesMatching(new RegExp(`^sleep (${secs}|${secs + 1}) `)).length === 2 || undefined, 10_000);
    t.call.end();
    const out = await t.done;
    expect(out.exit).toEqual({ code: -1, reason: 'closed by the caller' });
    expect(processesMatching(new RegExp(`^sleep (${secs}|${secs + 1}) `))).toEqual([]);
    expect(agent.sessions.list()).toEqual([]);
  });

  it('a `yes` flood with a paused reader keeps what is buffered on the way bounded', async () => {
    const t = agent.session({ open: agent.sign({ app: APP, tty: false, cols: 0, rows: 0, command: ['yes', 'flood-line'] }) });
    await t.waitOpened();
    await eventually(() => t.bytes > 4 * 1024 * 1024 || undefined, 20_000);
    t.call.pause();
    const rssBefore = process.memoryUsage().rss;
    await new Promise((r) => setTimeout(r, 200));
    const receivedAtPause = t.bytes;
    await new Promise((r) => setTimeout(r, PAUSE_MS));
    const rssAfter = process.memoryUsage().rss;
    t.call.cancel();
    await t.done;
    const closed = await eventually(() => agent.logLines().find((l) => l.event === 'terminal_closed' && String(l.sessionId) && l.reason === 'closed by the caller' && Number(l.bytesOut) > receivedAtPause) ?? undefined, 10_000);
    const readFromContainer = Number(closed.bytesOut);
    const buffered = readFromContainer - receivedAtPause;
    console.info(
      `yes flood: ${(receivedAtPause / 1e6).toFixed(1)} MB received before the pause; ${(buffered / 1e6).toFixed(2)} MB read from the container but not received during a ${PAUSE_MS} ms pause (bound ${MAX_BUFFERED_BYTES / 1e6} MB); rss ${(rssBefore / 1e6).toFixed(0)} -> ${(rssAfter / 1e6).toFixed(0)} MB`,
    );
    expect(buffered).toBeLessThan(MAX_BUFFERED_BYTES);
    expect(processesMatching(/^yes flood-line/)).toEqual([]);
  }, 60_000);
});

describe('a container session is refused', () => {
  it('NOT_FOUND for a container that does not exist or is not one of the app', async () => {
    const missing = await agent.session({ open: agent.sign({ app: APP, container: `${APP}-nope` }) }).done;
    expect(missing.error?.code).toBe(status.NOT_FOUND);
    expect(missing.error?.details).toMatch(new RegExp(`app ${APP} has no container ${APP}-nope`));
    const other = await start(OTHER_APP, 'x', 'r1');
    const foreign = await agent.session({ open: agent.sign({ app: APP, container: other }) }).done;
    expect(foreign.error?.code).toBe(status.NOT_FOUND);
    const unknownApp = await agent.session({ open: agent.sign({ app: `no-app-${run}` }) }).done;
    expect(unknownApp.error?.code).toBe(status.NOT_FOUND);
  });

  it('FAILED_PRECONDITION for a stopped container, saying how to start it', async () => {
    const stopped = await start(APP, 'stopped', 'r0');
    await stopContainer(podman, stopped, { graceSeconds: 1 });
    const out = await agent.session({ open: agent.sign({ app: APP, container: stopped }) }).done;
    expect(out.error?.code).toBe(status.FAILED_PRECONDITION);
    expect(out.error?.details).toContain(`container ${stopped} of app ${APP} is exited; start the app (podploy app start ${APP}) first`);
  });
});

async function eventually<T>(fn: () => Promise<T> | T, timeoutMs: number): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
