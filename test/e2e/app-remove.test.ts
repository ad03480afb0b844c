// Deleting an app end to end on a real node (h4): the CLI, the control plane, the signed
// RemoveApp, rootless Podman and Caddy. Nothing of the app may remain but what the operator keeps
// (its named volume, without --volumes); an offline node is a clear error that changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareAppHost, type AppHost } from '../support/app-host';
import { operator, readPid, waitFor } from '../support/harness';

let ah: AppHost;

function spec(name: string) {
  return {
    name,
    node: 'h4',
    source: { kind: 'image' as const, image: 'localhost/testapp:v1' },
    domains: [`${name}.test`],
    health: { path: '/health', deadlineMs: 15_000 },
    volumes: [{ name: `${name}-data`, path: '/data' }],
  };
}

const containersOf = (app: string) => ah.onHost(`podman ps -a --filter label=podploy.app=${app} --format '{{.Names}}'`).trim();
const volumes = () => ah.onHost(`podman volume ls --format '{{.Name}}'`).split('\n').map((v) => v.trim());

beforeAll(async () => {
  ah = await prepareAppHost('h4');
  ah.buildVersion('v1');
  for (const name of ['keep', 'wipe', 'lost']) {
    await ah.hx.cp.router.invoke('apps.create', { spec: spec(name) }, operator);
    const r = await ah.hx.cli(['deploy', name]);
    expect(r.code, r.stderr).toBe(0);
    expect(await ah.get(`${name}.test`, '/version')).toEqual({ status: 200, body: 'v1' });
  }
  ah.onHost(`podman exec $(podman ps -q --filter label=podploy.app=keep) sh -c 'echo still-here > /data/mark'`);
}, 400_000);

afterAll(async () => {
  await ah?.close();
});

describe('deleting an app removes it from its node', () => {
  it('without --volumes: no container, no route (Caddy answers 404), the volume stays, the app is gone', async () => {
    expect(containersOf('keep')).not.toBe('');
    const r = await ah.hx.cli(['app', 'delete', 'keep', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ deleted: 'keep', node: 'h4' });
    expect(out.removedFromNode).toMatch(/app keep removed; 1 container\(s\)/);
    expect(out.removedFromNode).toMatch(/kept volume\(s\) keep-data/);

    expect(containersOf('keep')).toBe('');
    const answer = await ah.get('keep.test', '/version');
    expect(answer.status).toBe(404);
    expect(answer.body).toContain('No app on this PodPloy node serves this host');
    expect(volumes()).toContain('keep-data');
    expect(ah.onHost(`podman run --rm -v keep-data:/data localhost/testapp:v1 cat /data/mark`).trim()).toBe('still-here');

    // The other apps on the node are untouched.
    expect(await ah.get('wipe.test', '/version')).toEqual({ status: 200, body: 'v1' });
    const list = await ah.hx.cli(['app', 'list', '--json']);
    expect(JSON.parse(list.stdout).map((a: { name: string }) => a.name)).toEqual(['lost', 'wipe']);
    const audit = (await ah.hx.cp.router.invoke('audit.list', {}, operator))[0];
    expect(audit).toMatchObject({ action: 'app.delete', target: 'keep', result: 'ok' });
    expect(await ah.hx.cp.router.invoke('apps.releases', { name: 'keep' }, operator).catch((e: Error) => e.message)).toMatch(/no app named 'keep'/);
  });

  it('with --volumes the named volume goes too, and the app can be created and deployed again', async () => {
    expect(volumes()).toContain('wipe-data');
    const r = await ah.hx.cli(['app', 'delete', 'wipe', '--volumes', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/deleted app wipe\nnode h4: app wipe removed; 1 container\(s\).*1 volume\(s\) \(wipe-data\)/);
    expect(containersOf('wipe')).toBe('');
    expect(volumes()).not.toContain('wipe-data');
    expect((await ah.get('wipe.test', '/version')).status).toBe(404);

    await ah.hx.cp.router.invoke('apps.create', { spec: spec('wipe') }, operator);
    const again = await ah.hx.cli(['deploy', 'wipe']);
    expect(again.code, again.stderr).toBe(0);
    expect(await ah.get('wipe.test', '/version')).toEqual({ status: 200, body: 'v1' });
  });

  it('without --yes and without a terminal it asks for confirmation and changes nothing', async () => {
    const r = await ah.hx.cli(['app', 'delete', 'wipe']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: deleting 'wipe' needs confirmation/);
    expect(r.stderr).toMatch(/hint: pass --yes/);
    expect(containersOf('wipe')).not.toBe('');
  });

  it('an app whose node is offline is a clear error, and nothing changes', async () => {
    process.kill(readPid(ah.user, 'supervisor'), 'SIGKILL');
    process.kill(readPid(ah.user, 'agent'), 'SIGKILL');
    await waitFor('h4 offline', async () => (await ah.hx.cp.router.invoke('nodes.list', {}, operator)).find((n) => n.name === 'h4')?.status === 'offline', 30_000);
    const r = await ah.hx.cli(['app', 'delete', 'lost', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: node 'h4' of app 'lost' is offline; nothing was deleted/);
    expect(r.stderr).toMatch(/hint: bring the node back/);
    expect(containersOf('lost')).not.toBe('');
    const list = await ah.hx.cli(['app', 'list', '--json']);
    expect(JSON.parse(list.stdout).map((a: { name: string }) => a.name)).toContain('lost');
    const audit = (await ah.hx.cp.router.invoke('audit.list', {}, operator))[0];
    expect(audit).toMatchObject({ action: 'app.delete', target: 'lost', result: 'error' });
  });
});
