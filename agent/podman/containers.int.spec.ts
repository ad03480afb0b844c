// The container lifecycle, images and logs against a REAL rootful Podman REST socket started
// here, with the local test app image (test/images/build-test-app.sh). Cleans up what it made.
import { startPodmanService, stopPodmanService } from './podman-test-service';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodmanClient, PodmanError } from './client';
import {
  createContainer,
  findContainer,
  inspectContainer,
  listContainers,
  PODPLOY_LABELS,
  podployLabels,
  removeContainer,
  runHealthcheck,
  startContainer,
  stopContainer,
  waitForContainer,
  type ContainerSpec,
} from './containers';
import { contextTar } from './context-tar';
import { buildImage, findImage, inspectImage, pruneImages, pullImage, removeImage } from './images';
import { containerLogs, readLogs, type LogLine } from './logs';

const TEST_APP = 'localhost/podploy-test-app:latest';
const HOST_IP = '127.0.1.1';
const run = randomBytes(4).toString('hex');
const APP = `pptest-${run}`;
const socket = `/tmp/pp-podman-${run}.sock`;
const podman = new PodmanClient(socket);
const madeImages = new Set<string>();
let service: ChildProcess | undefined;

beforeAll(async () => {
  service = await startPodmanService(socket);
}, 30_000);

afterAll(async () => {
  await stopPodmanService(service, socket, {
    app: APP,
    volumes: true,
    beforeStop: async (p) => {
      for (const ref of madeImages) await removeImage(p, ref, { force: true, ignoreMissing: true }).catch(() => undefined);
    },
  });
}, 30_000);

function spec(name: string, extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return { name: `${APP}-${name}`, image: TEST_APP, labels: podployLabels({ app: APP, release: 'r1', slot: 1 }), stopGraceSeconds: 5, ...extra };
}

describe('containers', () => {
  it('creates and starts the test app with a port on 127.0.1.1, limits and labels, and serves HTTP', async () => {
    const port = await freePort();
    const name = `${APP}-web`;
    const id = await createContainer(podman, {
      ...spec('web'),
      env: { APP_VERSION: 'v1' },
      ports: [{ hostIp: HOST_IP, hostPort: port, containerPort: 8080 }],
      memoryBytes: 64 * 1024 * 1024,
      cpus: 0.5,
      stopGraceSeconds: 3,
      healthCheck: { test: ['CMD-SHELL', 'wget -qO- http://127.0.0.1:8080/health'], intervalMs: 1_000, timeoutMs: 2_000, retries: 3 },
    });
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    await startContainer(podman, name);
    await startContainer(podman, name); // already running: fine
    await waitForContainer(podman, name, 'running', { timeoutMs: 5_000 });

    expect(await eventually(() => httpGet(`http://${HOST_IP}:${port}/health`), 5_000)).toEqual({ status: 200, body: 'ok\n' });
    expect(await httpGet(`http://${HOST_IP}:${port}/version`)).toEqual({ status: 200, body: 'v1\n' });

    const info = await inspectContainer(podman, name);
    expect(info).toMatchObject({ id, name, state: 'running', running: true, memoryBytes: 64 * 1024 * 1024, cpus: 0.5, stopGraceSeconds: 3, restartPolicy: 'no', health: 'starting' });
    expect(info.labels).toMatchObject({ 'podploy.app': APP, 'podploy.release': 'r1', 'podploy.slot': '1' });
    expect(info.ports).toEqual([{ hostIp: HOST_IP, hostPort: port, containerPort: 8080, protocol: 'tcp' }]);
    expect(info.imageId).toBe((await inspectImage(podman, TEST_APP)).id);

    // No systemd timer here: run Podman's health check on demand and see it in inspect.
    expect(await runHealthcheck(podman, name)).toBe('healthy');
    expect((await waitForContainer(podman, name, 'healthy', { timeoutMs: 2_000 }))?.health).toBe('healthy');

    // The app exits on SIGTERM: the stop is quick and clean.
    const started = Date.now();
    expect(await stopContainer(podman, name, { graceSeconds: 10 })).toEqual({ wasRunning: true });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await inspectContainer(podman, name)).toMatchObject({ state: 'exited', exitCode: 0, running: false });
    expect(await stopContainer(podman, name)).toEqual({ wasRunning: false });
    await removeContainer(podman, name);
    expect(await findContainer(podman, name)).toBeUndefined();
  });

  it('lists by label', async () => {
    await createContainer(podman, { ...spec('list-a'), labels: podployLabels({ app: APP, release: 'r7', slot: 1 }) });
    await createContainer(podman, { ...spec('list-b'), labels: podployLabels({ app: APP, release: 'r8', slot: 2 }) });
    const all = await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: APP } });
    expect(all.map((c) => c.name).sort()).toEqual([`${APP}-list-a`, `${APP}-list-b`]);
    expect(all.every((c) => c.state === 'created')).toBe(true);
    const slot2 = await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: APP, [PODPLOY_LABELS.slot]: '2' } });
    expect(slot2.map((c) => c.name)).toEqual([`${APP}-list-b`]);
    expect(slot2[0].labels[PODPLOY_LABELS.release]).toBe('r8');
    expect(await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: APP }, all: false })).toEqual([]);
    expect(await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: `${APP}-other` } })).toEqual([]);
    await removeContainer(podman, `${APP}-list-a`);
    await removeContainer(podman, `${APP}-list-b`);
  });

  it('stops with grace: a process that ignores SIGTERM is killed after the timeout', async () => {
    const name = `${APP}-stubborn`;
    await createContainer(podman, { ...spec('stubborn'), command: ['sh', '-c', 'trap "echo got TERM" TERM; echo ready; while :; do sleep 0.1; done'], stopGraceSeconds: 30 });
    await startContainer(podman, name);
    await eventually(async () => ((await readLogs(podman, name)).some((l) => l.line === 'ready') ? true : undefined), 5_000);
    const started = Date.now();
    await stopContainer(podman, name, { graceSeconds: 2 });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1_900);
    expect(took).toBeLessThan(8_000);
    expect(await inspectContainer(podman, name)).toMatchObject({ state: 'exited', exitCode: 137 });
    expect((await readLogs(podman, name)).map((l) => l.line)).toContain('got TERM');
    await removeContainer(podman, name);
  });

  it('fails clearly for an unknown image, an unknown container and a bad or taken port', async () => {
    const err = (await createContainer(podman, { ...spec('ghost'), image: `localhost/${APP}-nope:1` }).catch((e: unknown) => e)) as PodmanError;
    expect(err).toBeInstanceOf(PodmanError);
    expect(err.message).toContain(`container ${APP}-ghost: create from localhost/${APP}-nope:1: Podman at ${socket}: POST /v4.0.0/libpod/containers/create`);
    expect(err.message).toContain('image not known');

    const missing = `${APP}-missing`;
    const e2 = (await inspectContainer(podman, missing).catch((e: unknown) => e)) as PodmanError;
    expect(e2.statusCode).toBe(404);
    expect(e2.message).toBe(
      `container ${missing}: inspect: Podman at ${socket}: GET /v4.0.0/libpod/containers/${missing}/json answered HTTP 404: no container with name or ID "${missing}" found: no such container`,
    );
    await expect(startContainer(podman, missing)).rejects.toThrow(`container ${missing}: start: Podman at ${socket}: POST /v4.0.0/libpod/containers/${missing}/start answered HTTP 404`);
    await expect(stopContainer(podman, missing)).rejects.toThrow(`container ${missing}: stop`);
    await expect(removeContainer(podman, missing)).rejects.toThrow('HTTP 404');
    expect(await removeContainer(podman, missing, { ignoreMissing: true })).toEqual({ removed: false });
    await expect(waitForContainer(podman, missing, 'running', { timeoutMs: 500 })).rejects.toThrow(`container ${missing}: does not exist`);

    await expect(createContainer(podman, { ...spec('badport'), ports: [{ hostIp: HOST_IP, hostPort: 70_000, containerPort: 8080 }] })).rejects.toThrow(
      `container ${APP}-badport: invalid spec: host port 70000 is not a port (1-65535)`,
    );
    const taken = createServer();
    const port = await new Promise<number>((r) => taken.listen(0, HOST_IP, () => r((taken.address() as { port: number }).port)));
    try {
      await createContainer(podman, { ...spec('taken'), ports: [{ hostIp: HOST_IP, hostPort: port, containerPort: 8080 }] });
      await expect(startContainer(podman, `${APP}-taken`)).rejects.toThrow(new RegExp(`container ${APP}-taken: start: .*address already in use`));
    } finally {
      taken.close();
      await removeContainer(podman, `${APP}-taken`, { ignoreMissing: true });
    }
  });

  it('waits with a deadline and fails fast when the container exits', async () => {
    const name = `${APP}-quitter`;
    await createContainer(podman, { ...spec('quitter'), command: ['sh', '-c', 'sleep 0.3; exit 4'] });
    await startContainer(podman, name);
    await expect(waitForContainer(podman, name, 'healthy', { timeoutMs: 10_000 })).rejects.toThrow(`container ${name}: exited with code 4 while waiting for healthy`);
    await expect(waitForContainer(podman, name, (c) => c.state === 'paused', { timeoutMs: 300 })).rejects.toThrow(
      `container ${name}: not the condition after 300 ms (state exited, exit code 4)`,
    );
    await removeContainer(podman, name);
    expect(await waitForContainer(podman, name, 'removed', { timeoutMs: 1_000 })).toBeUndefined();
  });
});

describe('logs', () => {
  it('follows new lines, reads tail and since, and cancels', async () => {
    const name = `${APP}-talker`;
    await createContainer(podman, { ...spec('talker'), command: ['sh', '-c', 'i=0; while :; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.1; done'], stopGraceSeconds: 1 });
    await startContainer(podman, name);
    const seq = (l: LogLine) => Number(l.line.split(' ')[1]);
    const before = await eventually(async () => {
      const lines = await readLogs(podman, name);
      return lines.length >= 6 ? lines : undefined;
    }, 5_000);
    expect(before.find((l) => l.line === 'out 0')?.stream).toBe('stdout');
    expect(before.find((l) => l.line === 'err 0')?.stream).toBe('stderr');

    const tail = await readLogs(podman, name, { tail: 3 });
    expect(tail).toHaveLength(3);

    // Follow only what comes after subscribing.
    const got: LogLine[] = [];
    const mark = Math.max(...(await readLogs(podman, name)).map(seq));
    const sub = containerLogs(podman, name, (l) => got.push(l), { follow: true, since: new Date() });
    await sub.ready;
    await eventually(async () => (got.filter((l) => l.stream === 'stdout').length >= 5 && got.some((l) => l.stream === 'stderr') ? true : undefined), 5_000);
    expect(Math.min(...got.map(seq))).toBeGreaterThan(mark - 2);
    sub.cancel();
    await sub.done;
    const count = got.length;
    await sleep(300);
    expect(got.length).toBe(count);

    const since = new Date();
    await sleep(500);
    const after = await readLogs(podman, name, { since });
    expect(after.length).toBeGreaterThan(0);
    expect(Math.min(...after.map(seq))).toBeGreaterThan(mark);

    // A follow ends by itself when the container stops.
    const tailFollow = containerLogs(podman, name, () => undefined, { follow: true, tail: 1 });
    await tailFollow.ready;
    await stopContainer(podman, name, { graceSeconds: 1 });
    await tailFollow.done;

    await removeContainer(podman, name);
    await expect(readLogs(podman, name)).rejects.toThrow(`container ${name}: logs: Podman at ${socket}: GET /v4.0.0/libpod/containers/${name}/logs`);
  });
});

describe('images', () => {
  it('inspects the digest of the test app', async () => {
    const img = await inspectImage(podman, TEST_APP);
    expect(img.id).toMatch(/^[0-9a-f]{64}$/);
    expect(img.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(img.repoTags).toContain(TEST_APP);
    expect(await findImage(podman, `localhost/${APP}-nope:1`)).toBeUndefined();
    await expect(inspectImage(podman, `localhost/${APP}-nope:1`)).rejects.toThrow(`image localhost/${APP}-nope:1: inspect: Podman at ${socket}: GET`);
  });

  it('builds from a context tar, streaming the log, and reports a failed step', async () => {
    const tag = `localhost/${APP}-build:1`;
    madeImages.add(tag);
    const log: string[] = [];
    const context = contextTar([
      { path: 'Containerfile', content: `FROM ${TEST_APP}\nRUN echo building-${run}\nCOPY hello.txt /hello.txt\n` },
      { path: 'hello.txt', content: 'hello\n' },
    ]);
    const { id } = await buildImage(podman, context, { tag, onLog: (l) => log.push(l), labels: { 'podploy.app': APP } });
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(log).toContain(`building-${run}`);
    expect(log.some((l) => l.startsWith('STEP 1/4: FROM'))).toBe(true); // the labels option adds a LABEL step
    const img = await inspectImage(podman, tag);
    expect(img.id).toBe(id);
    expect(img.labels['podploy.app']).toBe(APP);

    const failing = contextTar([{ path: 'Containerfile', content: `FROM ${TEST_APP}\nRUN echo about-to-fail; exit 3\n` }]);
    madeImages.add(`localhost/${APP}-build:bad`);
    const err = (await buildImage(podman, failing, { tag: `localhost/${APP}-build:bad` }).catch((e: unknown) => e)) as PodmanError;
    expect(err).toBeInstanceOf(PodmanError);
    expect(err.message).toContain(`build of localhost/${APP}-build:bad (Containerfile): Podman at ${socket} answered: building at STEP "RUN echo about-to-fail; exit 3"`);
    expect(err.message).toContain('exit status 3');
    expect(err.message).toContain('about-to-fail');
  });

  it('prunes every candidate the keep-set does not name', async () => {
    const repo = `localhost/${APP}-prune`;
    const ids: string[] = [];
    for (const r of ['r1', 'r2', 'r3']) {
      madeImages.add(`${repo}:${r}`);
      const ctx = contextTar([{ path: 'Containerfile', content: `FROM ${TEST_APP}\nLABEL podploy.release=${r}\n` }]);
      ids.push((await buildImage(podman, ctx, { tag: `${repo}:${r}` })).id);
    }
    expect(new Set(ids).size).toBe(3);
    const r3 = await inspectImage(podman, `${repo}:r3`);
    // Kept by id (with its sha256: prefix) and by digest.
    const result = await pruneImages(podman, { reference: [repo], keep: [`sha256:${ids[1]}`, r3.digest] });
    expect(result).toEqual({ removed: [ids[0]], kept: expect.arrayContaining([ids[1], ids[2]]), failed: [] });
    expect(await findImage(podman, `${repo}:r1`)).toBeUndefined();
    expect((await findImage(podman, `${repo}:r2`))?.id).toBe(ids[1]);
    expect(await findImage(podman, TEST_APP)).toBeDefined();
    await expect(pruneImages(podman, { keep: [] })).rejects.toThrow('refusing to consider every image');
  });

  it('reports a pull that cannot reach the registry, with Podman answer', async () => {
    const lines: string[] = [];
    const err = (await pullImage(podman, '127.0.0.1:1/podploy/nope:1', { tlsVerify: false, onProgress: (l) => lines.push(l) }).catch((e: unknown) => e)) as PodmanError;
    expect(err).toBeInstanceOf(PodmanError);
    expect(err.message).toContain(`image 127.0.0.1:1/podploy/nope:1: pull: Podman at ${socket} answered:`);
    expect(err.message).toContain('connection refused');
    expect(lines[0]).toContain('Trying to pull 127.0.0.1:1/podploy/nope:1');
    await expect(pullImage(podman, 'Not A Reference')).rejects.toThrow('invalid reference format');
  });
});

async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await sleep(100);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, HOST_IP, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
