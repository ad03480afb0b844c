// Deploys end to end: the real CLI and control plane, a real test host (rootless Podman, the
// agent, Caddy on the node's port 80), the local test app image, and traffic through Caddy
// the whole time. Every deploy, the failing one and the rollback must lose zero requests.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operator } from '../support/harness';
import { prepareAppHost, type AppHost } from '../support/app-host';
import { startLoad } from '../support/http-load';

const DOMAIN = 'web.test';
const LOAD_WORKERS = 6;
const LOAD_RATE_PER_S = 150;

let node: AppHost;
let hx: AppHost['hx'];
let h1: AppHost['host'];

const onHost = (cmd: string) => node.onHost(cmd);
// A tag of the test app whose /version answers VERSION (and, for "sick", whose /health fails).
const buildVersion = (version: string, sick = false) => node.buildVersion(version, { sick });
const get = (path: string) => node.get(DOMAIN, path);

// Bounded steady traffic through Caddy on the node while fn runs.
async function underLoad<T>(fn: () => Promise<T>): Promise<{ result: T; ok: number; failed: string[]; versions: string[] }> {
  const load = startLoad({ host: h1.address, port: 80, hostHeader: DOMAIN, path: '/version', concurrency: LOAD_WORKERS, ratePerSecond: LOAD_RATE_PER_S });
  let result: T;
  try {
    result = await fn();
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await load.stop();
  }
  const samples = [...load.samples].sort((a, b) => a.end - b.end);
  const failed = samples.filter((x) => x.error !== undefined || x.status !== 200).map((x) => `${x.method} ${x.error ?? `HTTP ${x.status}`}`);
  const versions: string[] = [];
  for (const x of samples) if (x.status === 200 && versions.at(-1) !== x.body.trim()) versions.push(x.body.trim());
  return { result, ok: samples.length - failed.length, failed, versions };
}

// Concurrent requests that straddle the switch may finish out of order, so the answers may
// alternate for a moment; they must start on the old version and settle on the new one.
function expectSwitch(versions: string[], from: string, to: string): void {
  expect(versions[0]).toBe(from);
  expect(versions.at(-1)).toBe(to);
  expect(new Set(versions)).toEqual(new Set([from, to]));
}

beforeAll(async () => {
  node = await prepareAppHost('h1');
  hx = node.hx;
  h1 = node.host;
  for (const v of ['v1', 'v2']) buildVersion(v);
  buildVersion('v3', true);
}, 300_000);

afterAll(async () => {
  await node?.close();
});

describe('zero-downtime deploys through Caddy on a real node', () => {
  it('creates the app and deploys v1 from the CLI, showing each step', async () => {
    // A short health deadline keeps the failing-release case quick; everything else is default.
    await hx.cp.router.invoke(
      'apps.create',
      {
        spec: {
          name: 'web',
          node: 'h1',
          source: { kind: 'image', image: 'localhost/testapp:v1' },
          domains: [DOMAIN],
          health: { path: '/health', deadlineMs: 8_000 },
          volumes: [{ name: 'web-data', path: '/data' }],
          keepReleases: 2,
        },
      },
      operator,
    );
    const r = await hx.cli(['deploy', 'web']);
    expect(r.code, r.stderr).toBe(0);
    for (const step of ['image', 'start', 'health', 'switch', 'drain', 'stop']) expect(r.stderr).toMatch(new RegExp(`✓ ${step}`));
    expect(r.stdout).toContain('web v1 is live');
    expect(await get('/version')).toEqual({ status: 200, body: 'v1' });
  });

  it('deploys v2 under load with zero failed requests, and the named volume carries over', async () => {
    onHost(`podman exec $(podman ps -q --filter label=podploy.app=web) sh -c 'echo kept-across-releases > /data/mark'`);
    const run = await underLoad(() => hx.cli(['deploy', 'web', '--image', 'localhost/testapp:v2']));
    expect(run.result.code, run.result.stderr).toBe(0);
    expect(run.failed).toEqual([]);
    expect(run.ok).toBeGreaterThan(50);
    expectSwitch(run.versions, 'v1', 'v2');
    expect(await get('/version')).toEqual({ status: 200, body: 'v2' });
    expect(onHost(`podman exec $(podman ps -q --filter label=podploy.app=web) cat /data/mark`).trim()).toBe('kept-across-releases');
  });

  it('a release whose health check fails leaves v2 serving, loses nothing, and is recorded as failed', async () => {
    const run = await underLoad(() => hx.cli(['deploy', 'web', '--image', 'localhost/testapp:v3']));
    expect(run.result.code).toBe(1);
    expect(run.result.stderr).toMatch(/release v3 of web failed at health/);
    expect(run.failed).toEqual([]);
    expect(run.versions).toEqual(['v2']);
    const releases = await hx.cp.router.invoke('apps.releases', { name: 'web' }, operator);
    expect(releases.map((x) => `v${x.number} ${x.status}`)).toEqual(['v3 failed', 'v2 live', 'v1 superseded']);
    expect(onHost("podman ps -a --format '{{.Image}}'")).not.toContain('testapp:v3');
  });

  it('rolls back to v1 under load with zero failed requests', async () => {
    const run = await underLoad(() => hx.cli(['rollback', 'web', '--to', '1']));
    expect(run.result.code, run.result.stderr).toBe(0);
    expect(run.failed).toEqual([]);
    expectSwitch(run.versions, 'v2', 'v1');
    const releases = await hx.cp.router.invoke('apps.releases', { name: 'web' }, operator);
    expect(releases[0]).toMatchObject({ number: 4, status: 'live', imageRef: 'localhost/testapp:v1' });
    expect(releases[0].createdBy).toContain('rollback to v1');
    const audit = (await hx.cp.router.invoke('audit.list', {}, operator)).map((a) => `${a.action} ${a.result}`);
    expect(audit.slice(0, 4)).toEqual(['app.rollback ok', 'app.deploy error', 'app.deploy ok', 'app.deploy ok']);
  });

  it('a rollback runs the release\'s exact image (by digest), even after its tag moved', async () => {
    buildVersion('v2-moved');
    onHost('podman tag localhost/testapp:v2-moved localhost/testapp:v2');
    const run = await underLoad(() => hx.cli(['rollback', 'web', '--to', '2']));
    expect(run.result.code, run.result.stderr).toBe(0);
    expect(run.failed).toEqual([]);
    expect(await get('/version')).toEqual({ status: 200, body: 'v2' });
    const releases = await hx.cp.router.invoke('apps.releases', { name: 'web' }, operator);
    expect(releases[0]).toMatchObject({ number: 5, status: 'live' });
    expect(releases[0].imageDigest).toBe(releases.find((r) => r.number === 2)!.imageDigest);
  });

  it('keeps the images of the last keepReleases releases only, and says so when a rollback needs a pruned one', async () => {
    // keepReleases is 2: v1 (release 4) falls out once v2-moved is deployed after v2 (release 5).
    const r = await hx.cli(['deploy', 'web', '--image', 'localhost/testapp:v2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/removed 1 image\(s\) older than the last 2 releases/);
    expect(await get('/version')).toEqual({ status: 200, body: 'v2-moved' });
    expect(onHost('podman image exists localhost/testapp:v1 && echo present || echo gone').trim()).toBe('gone');
    const back = await hx.cli(['rollback', 'web', '--to', '1']);
    expect(back.code).toBe(1);
    expect(back.stderr).toMatch(/no longer on the node \(only the last 2 releases' images are kept\)/);
    expect(await get('/version')).toEqual({ status: 200, body: 'v2-moved' });
  });

  it('an upgraded (WebSocket) connection to the old release is not cut at the switch: it lives through the drain', async () => {
    const spec = (await hx.cp.router.invoke('apps.get', { name: 'web' }, operator)).spec;
    await hx.cp.router.invoke('apps.update', { spec: { ...spec, drainMs: 3_000 } }, operator);
    buildVersion('v5');
    const ws = await openUpgraded('/ws');
    expect(await ws.say('hello')).toBe('v2-moved hello');
    const deploying = hx.cli(['deploy', 'web', '--image', 'localhost/testapp:v5']);
    const switched = await waitForVersion('v5');
    // New requests reach v5 while the old connection still answers from v2-moved.
    expect(await ws.say('after-switch')).toBe('v2-moved after-switch');
    const r = await deploying;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/drain deadline 3000 ms passed with 1 request\(s\) in flight/);
    const closedAt = await ws.closed;
    expect(closedAt - switched).toBeGreaterThan(2_500);
  });
});

// A raw upgraded connection through Caddy: say() sends a line and resolves with the reply line.
function openUpgraded(path: string): Promise<{ say(line: string): Promise<string>; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: h1.address, port: 80, path, headers: { host: DOMAIN, Connection: 'Upgrade', Upgrade: 'websocket' } });
    req.on('upgrade', (_res, socket) => {
      let buffered = '';
      const waiting: ((line: string) => void)[] = [];
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        buffered += d;
        let i: number;
        while ((i = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, i);
          buffered = buffered.slice(i + 1);
          waiting.shift()?.(line);
        }
      });
      const closed = new Promise<number>((done) => socket.on('close', () => done(Date.now())));
      socket.on('error', () => undefined);
      resolve({ say: (line) => new Promise((got) => { waiting.push(got); socket.write(`${line}\n`); }), closed });
    });
    req.on('response', (res) => reject(new Error(`no upgrade: HTTP ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

async function waitForVersion(version: string): Promise<number> {
  for (const until = Date.now() + 30_000; Date.now() < until; ) {
    if ((await get('/version').catch(() => ({ body: '' }))).body === version) return Date.now();
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`v${version} never served`);
}
