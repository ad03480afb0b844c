// Lazarus against a REAL rootful Podman (its REST socket, started here) and the local test app:
// SIGKILL of the live container's process, back-off and crash loop, stops on purpose (the
// operator's SetAppRunning and a direct `podman stop`), a new agent over the persisted state
// (a death while no agent ran, a removed container, a tampered desired state), a restart of the
// Podman service, and a liveness probe that fails. Traffic goes only to 127.x addresses.
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandEnvelope, DeployApp, type SignedCommand } from '../../proto/gen/podploy/agent/v1/agent';
import type { NodeEventInput } from '../../proto/node-events';
import { signCommand } from '../../proto/signing';
import { AppStateStore } from '../deploy/app-state';
import { containerName, createReleaseContainer, type AppIngress } from '../deploy/deploy-app';
import { deployRequestFrom } from '../deploy-rpc';
import { freePort } from '../ingress/caddy-test-process';
import { appSlots, type AppSlots } from '../ingress/slots';
import { LivenessMonitor } from '../probes/liveness-monitor';
import { PodmanClient } from '../podman/client';
import { findContainer, listContainers, PODPLOY_LABELS, removeContainer, startContainer } from '../podman/containers';
import { findImage } from '../podman/images';
import { startPodmanService, stopPodmanService } from '../podman/podman-test-service';
import { DesiredStateStore, DESIRED_STATE_FILE } from './desired-state';
import { Lazarus } from './lazarus';

const TEST_APP = 'localhost/podploy-test-app:latest';
const run = randomBytes(3).toString('hex');
const PREFIX = `pplz-${run}`;
const NODE = 'node-lazarus';
const socket = `/tmp/pp-lazarus-${run}.sock`;
// Far from the deploy (110) and ingress (120, 121, 125) tests' indexes.
const FIRST_INDEX = 140;
const SHORT = { initialBackoffMs: 200, maxBackoffMs: 1_600, jitter: 0, resetAfterMs: 60_000, crashLoopRestarts: 4, crashLoopWindowMs: 60_000 };

const podman = new PodmanClient(socket);
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
let service: ChildProcess | undefined;
let imageId: string;
let stateDir: string;
let appPort: number;
const slotsOf = new Map<string, AppSlots>();
let appCount = 0;

interface Seen extends NodeEventInput {
  at: number;
}

const logLines: string[] = [];
const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// One agent's Lazarus over the shared state dir (a "new agent" is a new one of these).
class Agent {
  readonly events: Seen[] = [];
  readonly state = new AppStateStore(stateDir);
  readonly desired = new DesiredStateStore(stateDir, publicKey, NODE, log);
  readonly liveness = new LivenessMonitor({ podman, log });
  readonly lazarus: Lazarus;

  constructor(options: { exitsDir?: string | null } = {}) {
    const gates = { lookup: (app: string) => (slotsOf.has(app) ? ({ slots: slotsOf.get(app) } as AppIngress) : undefined) };
    this.lazarus = new Lazarus({
      podman,
      deployer: { state: this.state, inProgress: () => undefined },
      gates,
      desired: this.desired,
      stateDir,
      liveness: this.liveness,
      events: { emit: (e) => void this.events.push({ ...e, at: performance.now() }) },
      log,
      reconcileRetryMs: 200,
      ...options,
    });
  }

  async stop(): Promise<void> {
    await this.lazarus.stop();
    this.liveness.close();
  }

  of(app: string, kind?: string): Seen[] {
    return this.events.filter((e) => e.app === app && (!kind || e.kind === kind));
  }

  async waitFor(app: string, kind: string, count = 1, timeoutMs = 10_000): Promise<Seen> {
    const deadline = Date.now() + timeoutMs;
    while (this.of(app, kind).length < count) {
      if (Date.now() > deadline) throw new Error(`no ${count}x ${kind} for ${app} within ${timeoutMs} ms; saw: ${this.of(app).map((e) => e.kind).join(', ')}`);
      await sleep(5);
    }
    return this.of(app, kind)[count - 1];
  }
}

function signedDeploy(app: string, release: string, extra: Partial<DeployApp> = {}): SignedCommand {
  return signCommand({ nodeId: NODE, actor: 'test', deployApp: DeployApp.fromPartial({ app, release, image: TEST_APP, stopGraceMs: 2_000, ...extra }) }, privateKey);
}

// What a successful deploy leaves behind: the container running in slot a, the live state, and
// the signed command as the desired state.
async function deployed(agent: Agent, extra: Partial<DeployApp> = {}): Promise<{ app: string; container: string }> {
  const app = `${PREFIX}-${++appCount}`;
  slotsOf.set(app, appSlots(FIRST_INDEX + appCount, appPort));
  const signed = signedDeploy(app, 'r1', extra);
  const envelope = CommandEnvelope.decode(signed.payload);
  const container = containerName(app, 'a', 'r1');
  await createReleaseContainer({ podman }, deployRequestFrom(envelope.deployApp as DeployApp), { slot: 'a', address: (slotsOf.get(app) as AppSlots).a, name: container, imageId });
  await startContainer(podman, container);
  agent.state.setLive(app, { slot: 'a', release: 'r1', container, image: TEST_APP, imageId, digest: '', stopGraceMs: 2_000, since: new Date().toISOString() });
  agent.lazarus.deployed(signed);
  await serving(app);
  return { app, container };
}

async function pidOf(container: string): Promise<number> {
  const raw = await podman.json<{ State: { Pid: number } }>(`/containers/${container}/json`);
  return raw.State.Pid;
}

function get(app: string, path: string): Promise<number> {
  const { ip, port } = (slotsOf.get(app) as AppSlots).a;
  return new Promise((resolve) => {
    const req = request({ host: ip, port, path, timeout: 1_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function serving(app: string, timeoutMs = 10_000): Promise<number> {
  const t0 = performance.now();
  while ((await get(app, '/health')) !== 200) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`${app} does not serve /health`);
    await sleep(20);
  }
  return performance.now() - t0;
}

// Retries `work` until it does not throw (e.g. an exec while Lazarus restarts the container).
async function until(work: () => void, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return work();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

async function running(container: string): Promise<boolean> {
  return (await findContainer(podman, container))?.running ?? false;
}

beforeAll(async () => {
  service = await startPodmanService(socket);
  imageId = (await findImage(podman, TEST_APP))?.id as string;
  stateDir = mkdtempSync(join(tmpdir(), 'podploy-lazarus-'));
  appPort = await freePort();
}, 60_000);

afterAll(async () => {
  await stopPodmanService(service, socket, {
    beforeStop: async (p) => {
      for (const c of await listContainers(p, { labels: { [PODPLOY_LABELS.app]: true } })) {
        if (c.labels[PODPLOY_LABELS.app]?.startsWith(PREFIX)) await removeContainer(p, c.id, { force: true, ignoreMissing: true });
      }
    },
  });
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

describe('Lazarus with real Podman', () => {
  let agent: Agent;

  beforeAll(async () => {
    agent = new Agent();
    await agent.lazarus.start();
  });

  afterAll(async () => agent?.stop());

  it('restarts a SIGKILLed live container at once (the same container), detected from its exit file in milliseconds', async () => {
    const { app, container } = await deployed(agent);
    const before = await findContainer(podman, container);
    const t0 = performance.now();
    process.kill(await pidOf(container), 'SIGKILL');
    const died = await agent.waitFor(app, 'container.died');
    const done = await agent.waitFor(app, 'restart.done');
    const serveMs = await serving(app);
    const detectMs = died.at - t0;
    console.log(
      `[lazarus] SIGKILL -> death seen ${detectMs.toFixed(1)} ms (exit file age ${died.data?.detectedMs} ms), restart done ${(done.at - t0).toFixed(1)} ms, serving again ${(performance.now() - t0).toFixed(0)} ms (${serveMs.toFixed(0)} ms after restart.done)`,
    );
    expect(died.data).toMatchObject({ exitCode: 137, source: 'exit file' });
    expect(detectMs).toBeLessThan(100);
    expect(agent.of(app, 'restart.scheduled')[0].data).toEqual({ delayMs: 0, attempt: 1 });
    const after = await findContainer(podman, container);
    expect(after?.id).toBe(before?.id);
    expect(after?.running).toBe(true);
    expect(agent.lazarus.restartsOf(app)).toBe(1);
    expect(agent.lazarus.status(app)).toBe('running');
    // The late `died` of the events stream is not a second death.
    await sleep(500);
    expect(agent.of(app, 'container.died')).toHaveLength(1);
    expect(agent.of(app, 'restart.scheduled')).toHaveLength(1);
  });

  it('backs off 0, 200, 400, 800 ms on repeated kills and marks the crash loop at the 4th restart', async () => {
    const { app, container } = await deployed(agent, { restart: SHORT });
    const waits: number[] = [];
    for (let i = 1; i <= 5; i++) {
      process.kill(await pidOf(container), 'SIGKILL');
      const died = await agent.waitFor(app, 'container.died', i);
      const done = await agent.waitFor(app, 'restart.done', i, 5_000);
      // From the death to the restart's start request (restart.done's ms is the start itself).
      waits.push(done.at - died.at - (done.data?.ms as number));
      await serving(app);
    }
    const delays = agent.of(app, 'restart.scheduled').map((e) => e.data?.delayMs);
    console.log(`[lazarus] scheduled ${delays.join(', ')} ms; observed death -> restart begun ${waits.map((w) => w.toFixed(0)).join(', ')} ms`);
    expect(delays).toEqual([0, 200, 400, 800, 1_600]);
    // Never before its delay; and not a delay applied twice (1,600 ms would take 3,200). The
    // margin is for a loaded machine, not a speed requirement.
    for (let i = 0; i < 5; i++) {
      expect(waits[i]).toBeGreaterThanOrEqual((delays[i] as number) - 5);
      expect(waits[i]).toBeLessThan((delays[i] as number) + 1_000);
    }
    const entered = agent.of(app, 'crashloop.entered');
    expect(entered).toHaveLength(1);
    expect(entered[0].data).toEqual({ restarts: 4 });
    // It was marked together with the 4th restart.
    expect(agent.events.indexOf(entered[0])).toBeGreaterThan(agent.events.indexOf(agent.of(app, 'restart.scheduled')[3]));
    expect(agent.events.indexOf(entered[0])).toBeLessThan(agent.events.indexOf(agent.of(app, 'restart.scheduled')[4]));
    expect(agent.lazarus.status(app)).toBe('crash-looping');
    expect(agent.lazarus.restartsOf(app)).toBe(5);
  });

  it('leaves the crash loop after resetAfterMs of running, and the back-off starts over', async () => {
    const { app, container } = await deployed(agent, { restart: { ...SHORT, crashLoopRestarts: 2, resetAfterMs: 1_000 } });
    for (let i = 1; i <= 2; i++) {
      process.kill(await pidOf(container), 'SIGKILL');
      await agent.waitFor(app, 'restart.done', i);
    }
    expect(agent.of(app, 'crashloop.entered')).toHaveLength(1);
    expect(agent.lazarus.status(app)).toBe('crash-looping');
    const left = await agent.waitFor(app, 'crashloop.left', 1, 3_000);
    expect(left.at - (agent.of(app, 'restart.done')[1].at)).toBeGreaterThanOrEqual(990);
    expect(agent.lazarus.status(app)).toBe('running');
    process.kill(await pidOf(container), 'SIGKILL');
    expect((await agent.waitFor(app, 'restart.scheduled', 3)).data).toEqual({ delayMs: 0, attempt: 1 });
    await agent.waitFor(app, 'restart.done', 3);
  });

  it('leaves an app stopped on purpose by SetAppRunning, and starts it again', async () => {
    const { app, container } = await deployed(agent);
    const message = await agent.lazarus.setRunning(app, false);
    expect(message).toContain('stopped on purpose');
    expect(await running(container)).toBe(false);
    await sleep(800);
    expect(await running(container)).toBe(false);
    expect(agent.of(app, 'restart.scheduled')).toHaveLength(0);
    expect(agent.of(app, 'app.stopped')[0].data).toEqual({ by: 'operator' });
    expect(agent.lazarus.status(app)).toBe('stopped');
    expect(agent.desired.get(app)?.running).toBe(false);
    await agent.lazarus.setRunning(app, true);
    expect(await running(container)).toBe(true);
    await serving(app);
    expect(agent.of(app, 'app.started')).toHaveLength(1);
    expect(agent.lazarus.status(app)).toBe('running');
    await expect(agent.lazarus.setRunning(`${PREFIX}-nope`, false)).rejects.toThrow('has no release on this node: deploy it first');
  });

  it('leaves a container stopped with `podman stop` on the node stopped', async () => {
    const { app, container } = await deployed(agent);
    // Not execFileSync: Lazarus runs in this process and must see the death while podman stop runs.
    await promisify(execFile)('podman', ['stop', '-t', '5', container]);
    await agent.waitFor(app, 'app.stopped');
    await sleep(800);
    expect(await running(container)).toBe(false);
    expect(agent.of(app, 'restart.scheduled')).toHaveLength(0);
    expect(agent.of(app, 'app.stopped')[0].data).toEqual({ by: 'node' });
    expect(agent.lazarus.status(app)).toBe('stopped');
    expect(agent.desired.get(app)?.stoppedBy).toBe('node');
  });

  it('takes a `podman restart` on the node for a restart, not a stop, even when Podman writes a stop event', async () => {
    const { app, container } = await deployed(agent);
    for (let i = 0; i < 3; i++) {
      await promisify(execFile)('podman', ['restart', '-t', '1', container]);
      await sleep(1_500);
      expect(await running(container)).toBe(true);
    }
    expect(agent.of(app, 'app.stopped')).toHaveLength(0);
    expect(agent.lazarus.status(app)).not.toBe('stopped');
  });

  it('supervises only the live container: a pending restart is dropped when a deploy switched the release meanwhile', async () => {
    const { app, container: r1 } = await deployed(agent, { restart: { ...SHORT, initialBackoffMs: 600, maxBackoffMs: 1_600 } });
    // A deploy's v2, not in service yet: its death is the Deployer's business.
    const signed = signedDeploy(app, 'r2', { restart: SHORT });
    const r2 = containerName(app, 'b', 'r2');
    const slots = slotsOf.get(app) as AppSlots;
    await createReleaseContainer({ podman }, deployRequestFrom(CommandEnvelope.decode(signed.payload).deployApp as DeployApp), { slot: 'b', address: slots.b, name: r2, imageId });
    await startContainer(podman, r2);
    process.kill(await pidOf(r2), 'SIGKILL');
    await sleep(300);
    expect(agent.of(app, 'container.died')).toHaveLength(0);
    await startContainer(podman, r2);
    // r1 dies twice: the second restart waits 600 ms, and the switch to r2 happens meanwhile.
    process.kill(await pidOf(r1), 'SIGKILL');
    await agent.waitFor(app, 'restart.done');
    process.kill(await pidOf(r1), 'SIGKILL');
    const scheduled = await agent.waitFor(app, 'restart.scheduled', 2);
    expect(scheduled.data).toEqual({ delayMs: 600, attempt: 2 });
    agent.state.setLive(app, { slot: 'b', release: 'r2', container: r2, image: TEST_APP, imageId, digest: '', stopGraceMs: 2_000, since: new Date().toISOString() });
    await sleep(900);
    expect(agent.of(app, 'restart.done')).toHaveLength(1);
    expect(await running(r1)).toBe(false);
    // After the deploy, the new live container is the one kept alive, with a fresh count.
    agent.lazarus.deployed(signed);
    expect(agent.lazarus.restartsOf(app)).toBe(0);
    await sleep(100);
    process.kill(await pidOf(r2), 'SIGKILL');
    const done = await agent.waitFor(app, 'restart.done', 2);
    expect(done.container).toBe(r2);
    expect(await running(r2)).toBe(true);
    expect(agent.lazarus.restartsOf(app)).toBe(1);
  });

  it('restarts an app whose liveness probe fails, through the same policy', async () => {
    const liveness = { kind: 'http', path: '/health', statusMin: 200, statusMax: 299, command: [], intervalMs: 400, timeoutMs: 400, failureThreshold: 2, initialDelayMs: 200 };
    const { app, container } = await deployed(agent, { liveness, restart: SHORT });
    await sleep(400);
    execFileSync('podman', ['exec', container, 'touch', '/tmp/unhealthy'], { stdio: 'pipe' });
    const died = await agent.waitFor(app, 'container.died', 1, 5_000);
    expect(died.message).toContain('liveness probe failed');
    expect(died.data?.probe).toContain('status 503, expected 200-299');
    // The file survives in the same container: the probe fails again, the back-off grows.
    await agent.waitFor(app, 'restart.done', 1);
    await until(() => {
      execFileSync('podman', ['exec', container, 'rm', '-f', '/tmp/unhealthy'], { stdio: 'pipe' });
    });
    await serving(app);
    await sleep(600);
    expect(await running(container)).toBe(true);
    const delays = agent.of(app, 'restart.scheduled').map((e) => e.data?.delayMs);
    expect(delays[0]).toBe(0);
    expect(agent.lazarus.status(app)).not.toBe('stopped');
  });
});

describe('Lazarus across agent restarts (persisted desired state)', () => {
  it('a new agent restarts what died while none ran, recreates what was removed, and ignores a tampered entry', async () => {
    const first = new Agent();
    await first.lazarus.start();
    const { app, container } = await deployed(first, { restart: SHORT });
    const crashed = await deployed(first, { restart: SHORT });
    await first.stop();

    process.kill(await pidOf(container), 'SIGKILL');
    await removeContainer(podman, crashed.container, { force: true });
    await sleep(300);
    expect(await running(container)).toBe(false);

    const second = new Agent();
    await second.lazarus.start();
    await second.waitFor(app, 'restart.done');
    await second.waitFor(crashed.app, 'container.recreated');
    await second.waitFor(crashed.app, 'restart.done');
    expect(await running(container)).toBe(true);
    expect(await running(crashed.container)).toBe(true);
    await serving(crashed.app);
    expect(second.of(crashed.app, 'container.removed')).toHaveLength(1);
    await second.stop();

    // Someone edits the signed payload on disk: the entry is ignored, nothing is recreated.
    const file = join(stateDir, DESIRED_STATE_FILE);
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    const payload = Buffer.from(stored[crashed.app].deploy.payload, 'base64');
    payload[payload.length - 1] ^= 1;
    stored[crashed.app].deploy.payload = payload.toString('base64');
    writeFileSync(file, JSON.stringify(stored));
    await removeContainer(podman, crashed.container, { force: true });
    logLines.length = 0;
    const third = new Agent();
    expect(third.desired.get(crashed.app)).toBeUndefined();
    expect(third.desired.get(app)).toBeDefined();
    const ignored = logLines.map((l) => JSON.parse(l)).find((l) => l.event === 'desired_state_ignored');
    expect(ignored).toMatchObject({ app: crashed.app });
    expect(ignored.msg).toContain('its signature check failed (bad_signature');
    await third.lazarus.start();
    const failed = await third.waitFor(crashed.app, 'restart.failed');
    expect(failed.message).toContain('no signed desired state');
    expect(await findContainer(podman, crashed.container)).toBeUndefined();
    await third.stop();
  });
});

describe('Lazarus across a restart of the Podman service', () => {
  it('reconnects the events stream and restarts a container killed while the service was down', async () => {
    const agent = new Agent();
    await agent.lazarus.start();
    const { app, container } = await deployed(agent, { restart: SHORT });
    const pid = await pidOf(container);
    service?.kill('SIGTERM');
    await new Promise((r) => service?.once('exit', r));
    rmSync(socket, { force: true });
    process.kill(pid, 'SIGKILL');
    // The exit file still tells (conmon does not need the service); starting fails meanwhile.
    await agent.waitFor(app, 'container.died');
    await agent.waitFor(app, 'restart.failed');
    await sleep(1_000);
    // Tried again while Podman is away, but neither counted nor reported again.
    expect(agent.of(app, 'restart.failed')).toHaveLength(1);
    expect(agent.of(app, 'restart.scheduled')).toHaveLength(1);
    service = await startPodmanService(socket);
    await agent.waitFor(app, 'restart.done', 1, 15_000);
    expect(agent.lazarus.restartsOf(app)).toBe(1);
    expect(await running(container)).toBe(true);
    await serving(app);
    // The events stream comes back too (its back-off may be a little behind the restart).
    const deadline = Date.now() + 5_000;
    while (!logLines.some((l) => l.includes('podman_events_reconnected')) && Date.now() < deadline) await sleep(20);
    expect(logLines.some((l) => l.includes('podman_events_reconnected'))).toBe(true);
    await agent.stop();
  }, 40_000);
});

describe('Lazarus without exit files', () => {
  it("falls back to the events stream's died, says so in the log, and still restarts", async () => {
    logLines.length = 0;
    const agent = new Agent({ exitsDir: null });
    await agent.lazarus.start();
    const { app, container } = await deployed(agent);
    const t0 = performance.now();
    process.kill(await pidOf(container), 'SIGKILL');
    const died = await agent.waitFor(app, 'container.died');
    await agent.waitFor(app, 'restart.done');
    console.log(`[lazarus] without exit files: death seen ${(died.at - t0).toFixed(0)} ms after SIGKILL`);
    expect(died.data).toMatchObject({ exitCode: 137, source: 'events stream' });
    expect(await running(container)).toBe(true);
    expect(logLines.some((l) => l.includes('"exit_watch_off"'))).toBe(true);
    await agent.stop();
  });
});
