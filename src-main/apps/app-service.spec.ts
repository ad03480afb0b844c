import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppSpecInput, AppSummary } from '../api/contract';
import { createControlPlane, type ControlPlane } from '../control-plane';
import { Vault } from '../crypto/vault';
import { NodeStore } from '../nodes/node-store';
import { changedKeys } from './app-service';
import { AppSpec } from '../api/contract';

const open: ControlPlane[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

const cli = { actor: 'admin', source: 'cli' as const };

async function withNodes(): Promise<ControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), 'pp-apps-'));
  const cp = await createControlPlane({ dataDir: dir, agentBundlePath: join(dir, 'master.key') });
  open.push(cp);
  const store = new NodeStore(cp.db, new Vault(cp.db, Buffer.alloc(32, 1)));
  for (const [i, name] of ['n1', 'n2'].entries()) {
    store.insert({
      id: `n-${i}`, name, host: `10.0.0.${i + 1}`, port: 22, sshUser: 'deploy', hostKeyFingerprint: 'SHA256:x', hostKey: 'AAAA',
      auth: { kind: 'agent' }, agentPort: 7443, serviceMode: 'supervisor', agentVersion: '0.1.0', agentSha256: 'x',
      facts: null, usage: null, labels: {}, lastSeenAt: null, createdAt: Date.now(),
    });
  }
  return cp;
}

const spec: AppSpecInput = { name: 'web', node: 'n1', source: { kind: 'image', image: 'localhost/app:v1' }, domains: ['web.example.com'], env: { A: '1' } };

describe('apps.update', () => {
  it('replaces the configuration, keeps name, node and releases, publishes apps.changed and audits what changed', async () => {
    const cp = await withNodes();
    const created = await cp.router.invoke('apps.create', { spec }, cli);
    const seen: AppSummary[] = [];
    cp.router.subscribe('apps.changed', (a) => seen.push(a));
    const next: AppSpecInput = { ...spec, port: 9000, env: { A: '1', B: 'two' }, health: { path: '/ready', deadlineMs: 8_000 } };
    const updated = await cp.router.invoke('apps.update', { spec: next }, cli);

    expect(updated).toMatchObject({ id: created.id, name: 'web', node: 'n1', spec: { port: 9000, env: { A: '1', B: 'two' }, health: { path: '/ready', deadlineMs: 8_000, intervalMs: 1_000 } } });
    expect(updated.updatedAt).toBeGreaterThanOrEqual(created.updatedAt);
    expect((await cp.router.invoke('apps.get', { name: 'web' }, cli)).spec).toEqual(updated.spec);
    expect(seen.map((a) => a.spec.port)).toEqual([9000]);
    const [entry] = await cp.router.invoke('audit.list', { limit: 1 }, cli);
    expect(entry).toMatchObject({ action: 'app.update', target: 'web', result: 'ok', detail: 'changed env, health, port; the next deploy applies it' });
    // Values never go to the audit log.
    expect(entry.detail).not.toContain('two');
  });

  it('refuses a rename, a move to another node, an unknown app and a taken domain, changing nothing', async () => {
    const cp = await withNodes();
    await cp.router.invoke('apps.create', { spec }, cli);
    await cp.router.invoke('apps.create', { spec: { ...spec, name: 'api', domains: ['api.example.com'] } }, cli);
    const before = await cp.router.invoke('apps.get', { name: 'web' }, cli);

    await expect(cp.router.invoke('apps.update', { name: 'web', spec: { ...spec, name: 'www', port: 1 } }, cli)).rejects.toMatchObject({
      code: 'invalid_input',
      message: "an update cannot rename app 'web' to 'www'",
      hint: expect.stringContaining('keep "name": "web"'),
    });
    await expect(cp.router.invoke('apps.update', { spec: { ...spec, node: 'n2', port: 1 } }, cli)).rejects.toMatchObject({
      code: 'invalid_input',
      message: "app 'web' runs on node 'n1'; an update cannot move it to 'n2'",
    });
    await expect(cp.router.invoke('apps.update', { spec: { ...spec, name: 'ghost' } }, cli)).rejects.toMatchObject({ code: 'not_found', message: "no app named 'ghost'" });
    await expect(cp.router.invoke('apps.update', { spec: { ...spec, domains: ['web.example.com', 'api.example.com'] } }, cli)).rejects.toMatchObject({
      code: 'conflict',
      message: "the domain api.example.com is already routed to app 'api'",
    });
    await expect(cp.router.call('apps.update', { spec: { ...spec, health: { path: 'no-slash' } } }, cli)).rejects.toMatchObject({ code: 'invalid_input' });

    expect(await cp.router.invoke('apps.get', { name: 'web' }, cli)).toEqual(before);
    const audit = await cp.router.invoke('audit.list', { limit: 4 }, cli);
    expect(audit.map((a) => `${a.action} ${a.result}`)).toEqual(['app.update error', 'app.update error', 'app.update error', 'app.update error']);
  });

  it('keeps its own domains when they do not change', async () => {
    const cp = await withNodes();
    await cp.router.invoke('apps.create', { spec }, cli);
    const r = await cp.router.invoke('apps.update', { spec: { ...spec, port: 8081 } }, cli);
    expect(r.spec.domains).toEqual(['web.example.com']);
  });
});

describe('changedKeys', () => {
  it('names the top-level keys that differ', () => {
    const a = AppSpec.parse(spec);
    expect(changedKeys(a, a)).toEqual([]);
    expect(changedKeys(a, AppSpec.parse({ ...spec, command: ['x'], drainMs: 1 }))).toEqual(['command', 'drainMs']);
    expect(changedKeys(a, AppSpec.parse({ ...spec, memoryMb: 64 }))).toEqual(['memoryMb']);
  });
});
