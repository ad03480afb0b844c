import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerMessage } from './api/contract';
import { ApiSession } from './api/session';
import { createControlPlane, DB_FILE, type ControlPlane } from './control-plane';

const open: ControlPlane[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

async function start(dir = mkdtempSync(join(tmpdir(), 'pp-cp-'))) {
  // No agent is uploaded in these tests; any file stands in for the bundle.
  const cp = await createControlPlane({ dataDir: dir, agentBundlePath: join(dir, 'master.key') });
  open.push(cp);
  return { cp, dir };
}

const cli = { actor: 'admin', source: 'cli' as const };

describe('control plane core', () => {
  it('creates the admin token once, stores only its digest, and a 0600 master key', async () => {
    const { cp, dir } = await start();
    expect(cp.firstAdminToken).toMatch(/^pp_/);
    expect(cp.tokens.verify(cp.firstAdminToken!)).toBe('admin');
    expect(cp.tokens.verify('pp_wrong')).toBeNull();
    expect(statSync(join(dir, 'master.key')).mode & 0o777).toBe(0o600);
    const token = cp.firstAdminToken!;
    await cp.close();
    open.pop();
    const db = readFileSync(join(dir, DB_FILE));
    expect(db.includes(Buffer.from(token))).toBe(false);
    const again = await start(dir);
    expect(again.cp.firstAdminToken).toBeNull();
    expect(again.cp.tokens.verify(token)).toBe('admin');
  });

  it('keeps the CA and signing keys sealed in the database', async () => {
    const { cp, dir } = await start();
    await cp.close();
    open.pop();
    const db = readFileSync(join(dir, DB_FILE));
    expect(db.includes(Buffer.from('PRIVATE KEY'))).toBe(false);
  });

  it('uses WAL mode', async () => {
    const { cp } = await start();
    expect(cp.db.$client.pragma('journal_mode', { simple: true })).toBe('wal');
  });

  it('rejects malformed input with a clear error and records nothing half-done', async () => {
    const { cp } = await start();
    await expect(cp.router.call('nodes.add', { address: 'not-an-address', auth: { kind: 'password', password: 'x' } }, cli)).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining("must start with 'ssh://'"),
    });
    await expect(cp.router.call('nodes.add', { address: 'ssh://a@h', auth: { kind: 'nope' } }, cli)).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(cp.router.call('nodes.get', { name: 'ghost' }, cli)).rejects.toMatchObject({ code: 'not_found' });
    await expect(cp.router.call('no.such.op', {}, cli)).rejects.toMatchObject({ code: 'invalid_input' });
    expect(await cp.router.invoke('nodes.list', {}, cli)).toEqual([]);
    const audit = await cp.router.invoke('audit.list', {}, cli);
    expect(audit.map((a) => `${a.action} ${a.result}`)).toEqual(['node.add error']);
    expect(audit[0].detail).toContain("must start with 'ssh://'");
  });

  it('reports an unreachable host as such, with nothing created', async () => {
    const { cp } = await start();
    const progress: string[] = [];
    await expect(
      cp.router.invoke('nodes.add', { address: 'ssh://deploy@127.0.0.1:1', auth: { kind: 'password', password: 'x' }, acceptNewHostKey: true }, cli, (p) =>
        progress.push(`${p.step}:${p.state}`),
      ),
    ).rejects.toMatchObject({ code: 'unreachable', message: expect.stringContaining('ECONNREFUSED') });
    expect(progress).toEqual(['connect:running', 'connect:failed']);
    expect(await cp.router.invoke('nodes.list', {}, cli)).toEqual([]);
  });

  it('authenticates sessions by token and answers calls, progress and errors by id', async () => {
    const { cp } = await start();
    const sent: ServerMessage[] = [];
    const s = new ApiSession(cp.router, { actor: 'anonymous', source: 'browser' }, (m) => sent.push(m), {
      authenticate: (t) => cp.tokens.verify(t),
    });
    s.handle({ type: 'call', id: 1, op: 'nodes.list', input: {} });
    expect(sent.pop()).toMatchObject({ type: 'error', id: 1, error: { code: 'unauthorized' } });
    s.handle({ type: 'auth', token: 'pp_wrong' });
    expect(sent.pop()).toMatchObject({ type: 'error', id: null, error: { code: 'unauthorized' } });
    s.handle({ type: 'auth', token: cp.firstAdminToken, source: 'browser' });
    expect(sent.pop()).toMatchObject({ type: 'ready', session: { user: 'admin', source: 'browser' } });
    s.handle({ type: 'call', id: 2, op: 'nodes.list', input: {} });
    await new Promise((r) => setTimeout(r, 20));
    expect(sent.pop()).toEqual({ type: 'result', id: 2, result: [] });
    s.handle({ type: 'subscribe', topic: 'audit.appended' });
    s.handle({ type: 'call', id: 3, op: 'nodes.add', input: { address: 'bogus', auth: { kind: 'agent' } } });
    await new Promise((r) => setTimeout(r, 20));
    expect(sent.map((m) => m.type)).toEqual(expect.arrayContaining(['event', 'error']));
    expect(sent.find((m) => m.type === 'event')).toMatchObject({ topic: 'audit.appended', payload: { action: 'node.add', result: 'error', source: 'browser' } });
    s.handle('garbage');
    expect(sent.pop()).toMatchObject({ type: 'error', error: { message: 'malformed message' } });
  });
});

describe('apps', () => {
  async function withNode() {
    const { cp } = await start();
    const { NodeStore } = await import('./nodes/node-store');
    const { Vault } = await import('./crypto/vault');
    const store = new NodeStore(cp.db, new Vault(cp.db, Buffer.alloc(32, 1)));
    store.insert({
      id: 'n-1', name: 'n1', host: '10.0.0.1', port: 22, sshUser: 'deploy', hostKeyFingerprint: 'SHA256:x', hostKey: 'AAAA',
      auth: { kind: 'agent' }, agentPort: 7443, serviceMode: 'supervisor', agentVersion: '0.1.0', agentSha256: 'x',
      facts: null, usage: null, labels: {}, lastSeenAt: null, createdAt: Date.now(),
    });
    return cp;
  }
  const spec = { name: 'web', node: 'n1', source: { kind: 'image' as const, image: 'localhost/app:v1' }, domains: ['web.example.com'] };

  it('creates an app with every default, lists it, and audits it', async () => {
    const cp = await withNode();
    const a = await cp.router.invoke('apps.create', { spec }, cli);
    expect(a).toMatchObject({ name: 'web', node: 'n1', currentRelease: null, spec: { port: 8080, health: { path: '/health', deadlineMs: 60000 } } });
    expect((await cp.router.invoke('apps.list', {}, cli)).map((x) => x.name)).toEqual(['web']);
    expect(await cp.router.invoke('apps.releases', { name: 'web' }, cli)).toEqual([]);
    expect((await cp.router.invoke('audit.list', {}, cli))[0]).toMatchObject({ action: 'app.create', target: 'web', result: 'ok' });
  });

  it('refuses a taken name, a taken domain, an unknown node and bad input, creating nothing', async () => {
    const cp = await withNode();
    await cp.router.invoke('apps.create', { spec }, cli);
    await expect(cp.router.invoke('apps.create', { spec }, cli)).rejects.toMatchObject({ code: 'conflict', message: "an app named 'web' exists already" });
    await expect(cp.router.invoke('apps.create', { spec: { ...spec, name: 'api' } }, cli)).rejects.toMatchObject({
      code: 'conflict',
      message: "the domain web.example.com is already routed to app 'web'",
    });
    await expect(cp.router.invoke('apps.create', { spec: { ...spec, name: 'api', domains: [], node: 'ghost' } }, cli)).rejects.toMatchObject({ code: 'not_found' });
    await expect(cp.router.call('apps.create', { spec: { ...spec, name: 'api', env: { 'BAD-KEY': '1' } } }, cli)).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('an environment key is letters'),
    });
    expect((await cp.router.invoke('apps.list', {}, cli)).map((x) => x.name)).toEqual(['web']);
  });

  it('will not remove a node that still runs apps', async () => {
    const cp = await withNode();
    await cp.router.invoke('apps.create', { spec }, cli);
    await expect(cp.router.invoke('nodes.remove', { name: 'n1' }, cli)).rejects.toMatchObject({ code: 'conflict', message: "node 'n1' still runs apps: web" });
    expect((await cp.router.invoke('nodes.list', {}, cli)).map((n) => n.name)).toEqual(['n1']);
  });

  it('deletes an app, announces it, and says so for an unknown one', async () => {
    const cp = await withNode();
    await cp.router.invoke('apps.create', { spec }, cli);
    const seen: string[] = [];
    cp.router.subscribe('apps.deleted', (e) => seen.push(e.name));
    // Never deployed: nothing to remove from the node, which need not be online.
    expect(await cp.router.invoke('apps.delete', { name: 'web' }, cli)).toEqual({ deleted: 'web', node: 'n1', removedFromNode: null });
    expect(seen).toEqual(['web']);
    expect(await cp.router.invoke('apps.list', {}, cli)).toEqual([]);
    await expect(cp.router.invoke('apps.delete', { name: 'web' }, cli)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('refuses a deploy to an offline node, and a rollback with nothing to roll back to, creating no release', async () => {
    const cp = await withNode();
    await cp.router.invoke('apps.create', { spec }, cli);
    await expect(cp.router.invoke('apps.deploy', { name: 'web' }, cli)).rejects.toMatchObject({
      code: 'unreachable',
      message: "node 'n1' is offline; nothing was deployed",
    });
    await expect(cp.router.call('apps.deploy', { name: 'web', image: 'NOT A REF' }, cli)).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(cp.router.invoke('apps.deploy', { name: 'ghost' }, cli)).rejects.toMatchObject({ code: 'not_found' });
    expect(await cp.router.invoke('apps.releases', { name: 'web' }, cli)).toEqual([]);
    const audit = await cp.router.invoke('audit.list', {}, cli);
    expect(audit[0]).toMatchObject({ action: 'app.deploy', result: 'error' });
  });
});
