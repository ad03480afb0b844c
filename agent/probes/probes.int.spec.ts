// Exec and the liveness probes against a REAL rootful Podman REST socket started here, with the
// local test app (test/images/build-test-app.sh) in a container: its /hang mode makes it accept
// requests and never answer. Cleans up what it made.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LivenessSettings } from '../../proto/lazarus-defaults';
import type { NodeEventInput } from '../../proto/node-events';
import { freePort } from '../ingress/caddy-test-process';
import { PodmanClient, PodmanError } from '../podman/client';
import { createContainer, podployLabels, startContainer, waitForContainer } from '../podman/containers';
import { ExecTimeoutError, inspectExec, runExec } from '../podman/exec';
import { startPodmanService, stopPodmanService } from '../podman/podman-test-service';
import { execProbe } from './exec-probe';
import { httpProbe } from './http-probe';
import { LivenessMonitor } from './liveness-monitor';
import { tcpProbe } from './tcp-probe';

const TEST_APP = 'localhost/podploy-test-app:latest';
const HOST_IP = '127.0.1.1';
const run = randomBytes(4).toString('hex');
const APP = `pprobe-${run}`;
const socket = `/tmp/pp-podman-${run}.sock`;
const podman = new PodmanClient(socket);
const NAME = `${APP}-web`;
let service: ChildProcess | undefined;
let port: number;

beforeAll(async () => {
  service = await startPodmanService(socket);
  port = await freePort();
  await createContainer(podman, {
    name: NAME,
    image: TEST_APP,
    labels: podployLabels({ app: APP, release: 'r1', slot: 'a' }),
    ports: [{ hostIp: HOST_IP, hostPort: port, containerPort: 8080 }],
    stopGraceSeconds: 2,
  });
  await startContainer(podman, NAME);
  await waitForContainer(podman, NAME, 'running', { timeoutMs: 5_000 });
  const deadline = Date.now() + 5_000;
  while (!(await tcpProbe({ ip: HOST_IP, port, timeoutMs: 500 })).ok) {
    if (Date.now() > deadline) throw new Error('the test app did not listen');
    await sleep(50);
  }
}, 60_000);

afterAll(async () => {
  await stopPodmanService(service, socket, { app: APP });
}, 30_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const http = (path = '/health', timeoutMs = 1_000) => httpProbe({ ip: HOST_IP, port, path, statusMin: 200, statusMax: 399, timeoutMs });

describe('runExec', () => {
  it('returns the exit code with stdout and stderr apart', async () => {
    const r = await runExec(podman, NAME, ['sh', '-c', 'echo out; echo err >&2; exit 3'], { timeoutMs: 5_000 });
    expect(r).toMatchObject({ exitCode: 3, stdout: 'out\n', stderr: 'err\n', truncated: false });
    expect((await runExec(podman, NAME, ['true'], { timeoutMs: 5_000 })).exitCode).toBe(0);
  });

  it('keeps a bounded part of a large output and says so', async () => {
    const r = await runExec(podman, NAME, ['sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" a; echo -n e >&2'], { timeoutMs: 5_000, maxOutputBytes: 1_000 });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('a'.repeat(1_000));
    expect(r.stderr).toBe('e');
    expect(r.truncated).toBe(true);
  });

  it('throws ExecTimeoutError past its timeout and kills the command', async () => {
    const t0 = Date.now();
    const err = await runExec(podman, NAME, ['sleep', '30'], { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecTimeoutError);
    expect((err as Error).message).toBe(`container ${NAME}: exec sleep 30 did not finish within 300 ms`);
    expect(Date.now() - t0).toBeLessThan(2_000);
    // No `sleep 30` is left in the container.
    await sleep(200);
    const ps = await runExec(podman, NAME, ['ps', '-o', 'args'], { timeoutMs: 5_000 });
    expect(ps.stdout).not.toContain('sleep 30');
  });

  it('fails with Podman\'s words for a missing container and a missing command', async () => {
    const err = (await runExec(podman, `${APP}-ghost`, ['true'], { timeoutMs: 5_000 }).catch((e: unknown) => e)) as PodmanError;
    expect(err).toBeInstanceOf(PodmanError);
    expect(err.statusCode).toBe(404);
    expect(err.message).toContain(`container ${APP}-ghost: exec true: Podman at ${socket}`);
    const missing = await runExec(podman, NAME, ['/no/such/binary'], { timeoutMs: 5_000 }).catch((e: unknown) => e);
    // Podman reports it either as a failed start or as exit code 127.
    if (missing instanceof Error) expect(missing.message).toContain('/no/such/binary');
    else expect((missing as { exitCode: number }).exitCode).toBe(127);
  });

  it('inspects an exec session', async () => {
    const r = await runExec(podman, NAME, ['sh', '-c', 'exit 7'], { timeoutMs: 5_000 });
    expect(r.exitCode).toBe(7);
    await expect(inspectExec(podman, 'no-such-exec')).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe('probes against the real container', () => {
  it('exec: fails while the file is missing and passes once it exists', async () => {
    const probe = () => execProbe(podman, { container: NAME, command: ['test', '-f', '/tmp/alive'], timeoutMs: 2_000 });
    expect(await probe()).toEqual({ ok: false, reason: 'exec test -f /tmp/alive: exit 1' });
    await runExec(podman, NAME, ['touch', '/tmp/alive'], { timeoutMs: 5_000 });
    expect(await probe()).toEqual({ ok: true, detail: 'exec test -f /tmp/alive: exit 0' });
    expect(await execProbe(podman, { container: NAME, command: ['sleep', '5'], timeoutMs: 200 })).toEqual({ ok: false, reason: 'exec sleep 5: did not finish within 200 ms' });
  });

  it('tcp: passes on the published port and fails on a closed one', async () => {
    expect((await tcpProbe({ ip: HOST_IP, port, timeoutMs: 1_000 })).ok).toBe(true);
    const closed = await freePort();
    expect(await tcpProbe({ ip: HOST_IP, port: closed, timeoutMs: 1_000 })).toMatchObject({ ok: false, reason: expect.stringContaining('ECONNREFUSED') });
  });

  it('http: passes, then fails by its timeout once the app hangs, and the monitor reports it failed', async () => {
    expect(await http()).toEqual({ ok: true, detail: `GET http://${HOST_IP}:${port}/health: 200` });
    const events: NodeEventInput[] = [];
    const monitor = new LivenessMonitor({ podman, events: { emit: (e) => events.push(e) } });
    const settings: LivenessSettings = { kind: 'http', path: '/health', statusMin: 200, statusMax: 399, command: [], intervalMs: 300, timeoutMs: 250, failureThreshold: 2, initialDelayMs: 0 };
    const failed: string[] = [];
    try {
      monitor.watch({ app: APP, container: NAME, address: { ip: HOST_IP, port } }, settings, (reason) => failed.push(reason));
      while (events.length === 0) await sleep(20);
      expect(events[0]).toMatchObject({ kind: 'probe.passing', app: APP, container: NAME });

      expect((await http('/hang')).ok).toBe(true);
      const t0 = Date.now();
      const hung = await http('/health', 400);
      expect(hung).toEqual({ ok: false, reason: `GET http://${HOST_IP}:${port}/health: no answer within 400 ms` });
      expect(Date.now() - t0).toBeLessThan(1_000);

      const deadline = Date.now() + 5_000;
      while (failed.length === 0 && Date.now() < deadline) await sleep(20);
      expect(failed).toEqual([`GET http://${HOST_IP}:${port}/health: no answer within 250 ms`]);
      expect(events.map((e) => e.kind)).toEqual(['probe.passing', 'probe.failing']);
      expect(monitor.state(APP)).toBe('failing');
    } finally {
      monitor.close();
      await runExec(podman, NAME, ['rm', '-f', '/dev/shm/hang'], { timeoutMs: 5_000 });
    }
    // Out of hang mode the app answers again.
    const deadline = Date.now() + 5_000;
    let again = await http();
    while (!again.ok && Date.now() < deadline) again = await http();
    expect(again.ok).toBe(true);
    expect(existsSync(socket)).toBe(true);
  });
});
