// The deploy orchestrator against a REAL rootful Podman (its REST socket, started here), a REAL
// Caddy (config loaded once, through the admin API) and the local test app image. Under a
// steady keep-alive GET+POST load through Caddy: deploy v1, v2 (zero failures, answers switch
// to v2), a v3 whose health check fails (step 3 fails, v2 keeps serving, no v3 container left),
// and a rollback to v1's settings while a concurrent deploy is refused. Traffic goes only to
// 127.x addresses.
import { startPodmanService, stopPodmanService } from '../podman/podman-test-service';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCaddyConfig } from '../ingress/caddy-config';
import { freePort, startTestCaddy, type TestCaddy } from '../ingress/caddy-test-process';
import { SlotGate } from '../ingress/slot-gate';
import { appSlots, type AppSlots, type SlotName } from '../ingress/slots';
import { PodmanClient } from '../podman/client';
import { listContainers, PODPLOY_LABELS } from '../podman/containers';
import { AppStateStore } from './app-state';
import { DeployRefusedError, Deployer, type DeployEvent, type DeployRequest, type DeployResult } from './deploy-app';
import { startLoad as startHttpLoad, type Sample } from '../../test/support/http-load';

const TEST_APP = 'localhost/podploy-test-app:latest';
// Far from 127.0.1.1 (Debian's hostname address) and from the ingress test's indexes (120, 121).
const APP_INDEX = 110;
const HOST = 'app.test';
const run = randomBytes(4).toString('hex');
const APP = `ppdeploy-${run}`;
const socket = `/tmp/pp-deploy-${run}.sock`;
// The test app forks a shell per request (busybox nc): a rate it serves with room to spare.
const LOAD_RATE_PER_S = 150;
const LOAD_CONCURRENCY = 8;
const REQUEST_TIMEOUT_MS = 10_000;
const STEADY_MS = 500;
// Quick checks so the test stays short; the defaults (1 s interval, 60 s deadline) apply otherwise.
const HEALTH = { intervalMs: 200, timeoutMs: 1_000, deadlineMs: 15_000 };
const FAILING_DEADLINE_MS = 3_000;

const podman = new PodmanClient(socket);
let service: ChildProcess | undefined;
let caddy: TestCaddy;
let httpPort: number;
let slots: AppSlots;
let gates: Record<SlotName, SlotGate>;
let stateDir: string;
let deployer: Deployer;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function release(id: string, version: string, extra: Partial<DeployRequest> = {}): DeployRequest {
  return { app: APP, release: id, image: TEST_APP, env: { APP_VERSION: version }, health: HEALTH, stopGraceMs: 5_000, drainMs: 5_000, memoryMb: 64, cpus: 0.5, ...extra };
}

async function deploy(req: DeployRequest): Promise<{ result: DeployResult; events: DeployEvent[] }> {
  const events: DeployEvent[] = [];
  const result = await deployer.deploy(req, (e) => events.push(e));
  const steps = result.steps.map((s) => `${s.step} ${s.name} ${s.state} ${s.durationMs} ms`).join(', ');
  console.log(`[deploy] ${req.release} (${req.env?.APP_VERSION}): ${result.ok ? 'ok' : `FAILED at step ${result.failedStep?.step}`} in ${result.totalMs} ms: ${steps}`);
  if (!result.ok) console.log(`[deploy]   reason: ${result.failedStep?.reason}`);
  return { result, events };
}

beforeAll(async () => {
  service = await startPodmanService(socket);
  caddy = await startTestCaddy();
  httpPort = await freePort();
  const gatePort = await freePort();
  slots = appSlots(APP_INDEX, await freePort());
  gates = { a: await SlotGate.start({ ip: slots.a.ip, port: gatePort }), b: await SlotGate.start({ ip: slots.b.ip, port: gatePort }) };
  await caddy.admin.load(buildCaddyConfig({ adminListen: caddy.adminListen, listen: [`127.0.0.1:${httpPort}`], routes: [{ app: APP, domains: [HOST], slots, gatePort }] }));
  await Promise.all([gates.a.confirm(), gates.b.confirm()]);
  stateDir = mkdtempSync(join(tmpdir(), 'podploy-deploy-state-'));
  deployer = new Deployer({ podman, caddy: caddy.admin, gates: { lookup: (app) => (app === APP ? { slots, gates } : undefined) }, stateDir });
}, 60_000);

afterAll(async () => {
  await stopPodmanService(service, socket, { app: APP });
  await Promise.all(Object.values(gates ?? {}).map((g) => g.stop()));
  await caddy?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 30_000);


const failed = (s: Sample) => s.error !== undefined || s.status !== 200 || !/^v\d+\n$/.test(s.body);

function startLoad(): { stop(): Promise<Sample[]> } {
  return startHttpLoad({ host: '127.0.0.1', port: httpPort, hostHeader: HOST, path: '/version', concurrency: LOAD_CONCURRENCY, ratePerSecond: LOAD_RATE_PER_S, timeoutMs: REQUEST_TIMEOUT_MS });
}

// Runs `work` under load and reports the numbers; returns the samples and the failed ones.
async function underLoad<T>(label: string, work: () => Promise<T>): Promise<{ value: T; samples: Sample[]; bad: Sample[] }> {
  const t0 = performance.now();
  const load = startLoad();
  await sleep(STEADY_MS);
  const value = await work();
  await sleep(STEADY_MS);
  const samples = await load.stop();
  const seconds = (performance.now() - t0) / 1000;
  const lat = samples.map((s) => s.end - s.start).sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]?.toFixed(1);
  const bad = samples.filter(failed);
  const kinds = [...new Set(bad.map((s) => `${s.method} ${s.error ?? s.status}`))].join(', ');
  console.log(
    `[deploy] load during ${label}: ${samples.length} requests in ${seconds.toFixed(1)} s (${(samples.length / seconds).toFixed(0)}/s), ` +
      `${bad.length} failed${kinds ? ` (${kinds})` : ''}, p50 ${pct(50)} ms, p99 ${pct(99)} ms, max ${lat.at(-1)?.toFixed(1)} ms`,
  );
  return { value, samples, bad };
}

function versionsBetween(samples: Sample[], from: number, to: number): Set<string> {
  return new Set(samples.filter((s) => s.start > from && s.end < to).map((s) => s.body.trim()));
}

describe('deploy through real Podman and Caddy', () => {
  let configText: string;

  it('deploys v1 first (nothing to drain), then v2 under load with zero failed requests', async () => {
    configText = await caddy.admin.getConfigText();
    const first = await deploy(release('r1', 'v1'));
    expect(first.result).toMatchObject({ ok: true, slot: 'a', serving: { release: 'r1', slot: 'a' } });
    expect(first.result.image?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(first.result.steps.map((s) => `${s.step}:${s.name}:${s.state}`)).toEqual(['1:image:done', '2:start:done', '3:health:done', '4:switch:done', '5:drain:done', '6:stop:done']);
    expect(first.result.steps[4].message).toContain('nothing to drain');
    expect(first.events.filter((e) => e.state === 'running').map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6]);
    const v1 = (await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: APP } }))[0];
    expect(v1.labels).toMatchObject({ [PODPLOY_LABELS.release]: 'r1', [PODPLOY_LABELS.slot]: 'a' });

    let t1 = 0;
    let t2 = 0;
    const { value: second, samples, bad } = await underLoad('v1 -> v2', async () => {
      t1 = performance.now();
      const d = await deploy(release('r2', 'v2'));
      t2 = performance.now();
      return d;
    });
    expect(second.result).toMatchObject({ ok: true, slot: 'b', serving: { release: 'r2', slot: 'b' } });
    expect(second.result.steps.every((s) => s.state === 'done')).toBe(true);
    expect(bad.slice(0, 5)).toEqual([]);
    expect(versionsBetween(samples, 0, t1)).toEqual(new Set(['v1']));
    expect(versionsBetween(samples, t2, Infinity)).toEqual(new Set(['v2']));
    // v1 is gone; only v2's container is left, with its labels.
    const left = await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: APP } });
    expect(left.map((c) => [c.labels[PODPLOY_LABELS.release], c.labels[PODPLOY_LABELS.slot], c.state])).toEqual([['r2', 'b', 'running']]);
    expect(await caddy.admin.getConfigText()).toBe(configText);
  });

  it('fails a v3 whose health check never passes at step 3: v2 keeps serving, no failed request, no v3 container left', async () => {
    const unhealthy = release('r3', 'v3', { command: ['sh', '-c', 'touch /tmp/unhealthy; exec /app/start'], health: { ...HEALTH, deadlineMs: FAILING_DEADLINE_MS } });
    const { value: third, samples, bad } = await underLoad('failing v3', () => deploy(unhealthy));
    expect(third.result.ok).toBe(false);
    expect(third.result.failedStep).toMatchObject({ step: 3, name: 'health' });
    expect(third.result.failedStep?.reason).toMatch(/health check failed: GET http:\/\/127\.0\.1\.221:\d+\/health did not pass .* within 3000 ms .*last: HTTP 503/);
    expect(third.result.failedStep?.reason).toContain('release r2 keeps serving');
    expect(third.result.serving).toEqual({ release: 'r2', slot: 'b' });
    expect(third.events.find((e) => e.step === 3 && e.state === 'failed')?.message).toContain('HTTP 503');
    expect(third.events.some((e) => e.step >= 4)).toBe(false);
    expect(bad.slice(0, 5)).toEqual([]);
    expect(new Set(samples.map((s) => s.body.trim()))).toEqual(new Set(['v2']));
    expect(await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: APP, [PODPLOY_LABELS.release]: 'r3' } })).toEqual([]);
    expect(gates.a.current).toBe('closed');
    expect(gates.b.current).toBe('open');
  });

  it('fails an unknown image at step 1 and refuses an invalid request, changing nothing', async () => {
    const { result } = await deploy(release('r3b', 'v9', { image: `localhost/podploy-nope-${run}:1` }));
    expect(result.failedStep).toMatchObject({ step: 1, name: 'image' });
    expect(result.failedStep?.reason).toContain(`localhost/podploy-nope-${run}:1 is not on the node, and a localhost/ image cannot be pulled`);
    expect(result.failedStep?.reason).toContain('release r2 keeps serving');
    expect(result.serving).toEqual({ release: 'r2', slot: 'b' });
    await expect(deployer.deploy(release('bad id!', 'v9'))).rejects.toThrow(/refused: release id "bad id!"/);
    await expect(deployer.deploy({ ...release('r3c', 'v9'), app: 'other-app' })).rejects.toThrow('app other-app: no ingress slots on this node');
    const left = await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: APP } });
    expect(left.map((c) => c.labels[PODPLOY_LABELS.release])).toEqual(['r2']);
  });

  it('rolls back to v1 under load with zero failed requests; a concurrent deploy of the same app is refused', async () => {
    let refused: unknown;
    let t1 = 0;
    let t2 = 0;
    const { value: rollback, samples, bad } = await underLoad('rollback v2 -> v1', async () => {
      t1 = performance.now();
      const pending = deploy(release('r4', 'v1'));
      refused = await deployer.deploy(release('r5', 'v2')).catch((e: unknown) => e);
      const d = await pending;
      t2 = performance.now();
      return d;
    });
    expect(refused).toBeInstanceOf(DeployRefusedError);
    expect((refused as Error).message).toMatch(new RegExp(`app ${APP}: a deploy of release r4 is in progress .*release r5 was not deployed`));
    expect(rollback.result).toMatchObject({ ok: true, slot: 'a', serving: { release: 'r4', slot: 'a' } });
    expect(bad.slice(0, 5)).toEqual([]);
    expect(versionsBetween(samples, 0, t1)).toEqual(new Set(['v2']));
    expect(versionsBetween(samples, t2, Infinity)).toEqual(new Set(['v1']));
    const left = await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: APP } });
    expect(left.map((c) => c.labels[PODPLOY_LABELS.release])).toEqual(['r4']);
    // Persisted: a fresh store (the agent after a restart) reads the same live release.
    expect(new AppStateStore(stateDir).live(APP)).toMatchObject({ slot: 'a', release: 'r4', container: left[0].name, digest: rollback.result.image?.digest });
    expect(await caddy.admin.getConfigText()).toBe(configText);
    // Once it finished, the app takes deploys again.
    expect(deployer.inProgress(APP)).toBeUndefined();
  });
});
