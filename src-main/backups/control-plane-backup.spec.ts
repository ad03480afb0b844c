// The control plane backs up its own state to a real local destination (a temp folder) through
// the shared pipeline, prunes by its retention, and `restoreState` brings that state back into a
// fresh data folder: a new control plane started on it has the nodes, apps, releases and secrets.
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalDestination } from '../../proto/backup/destinations/local';
import type { BackupProgressEvent } from '../api/contract';
import { createControlPlane, type ControlPlane } from '../control-plane';
import { Vault } from '../crypto/vault';
import { apps, releases } from '../db/schema';
import { controlPlaneWithApp } from '../events/events-test-support';
import { SecretStore } from '../secrets/secret-store';
import { SNAPSHOT_PREFIX } from './control-plane-backup';
import { restoreState } from './state-restore';

const cli = { actor: 'admin', source: 'cli' as const };
const MASTER = Buffer.alloc(32, 1);
const open: ControlPlane[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

async function stateWithEverything() {
  const cp = await controlPlaneWithApp();
  open.push(cp);
  const app = cp.db.select().from(apps).get()!;
  cp.db.insert(releases).values({ id: 'rel-1', appId: app.id, number: 1, imageRef: 'localhost/app:v1', spec: app.spec, secretVersion: 1, status: 'live', createdBy: 'admin', createdAt: 1 }).run();
  await cp.router.invoke('secrets.set', { app: 'web', values: { DATABASE_URL: 'postgres://u:hunter2@db/app' } }, cli);
  const backups = mkdtempSync(join(tmpdir(), 'pp-cp-dest-'));
  await cp.router.invoke('backups.destinations.set', { kind: 'local', name: 'disk', path: backups }, cli);
  return { cp, backups, app };
}

function runFolders(backups: string, policyId: string): string[] {
  const dir = join(backups, 'control-plane', policyId);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

describe("the control plane's own state", () => {
  it('is backed up sealed to a local destination, with progress, and the snapshot file is gone after', async () => {
    const { cp, backups } = await stateWithEverything();
    const policy = await cp.router.invoke('backups.policies.set', { name: 'state', source: { kind: 'control-plane' }, destinations: ['disk'] }, cli);
    expect(policy).toMatchObject({ node: null, app: null, pushed: true, pushError: null, schedules: ['0 3 * * *'], timezone: 'UTC' });
    expect(policy.nextRuns).toHaveLength(3);
    expect(new Date(policy.nextRuns[0]).getUTCHours()).toBe(3);
    const changed: string[] = [];
    cp.router.subscribe('backups.runs.changed', (r) => changed.push(r.status));
    const progress: BackupProgressEvent[] = [];
    const run = await cp.router.invoke('backups.run', { policy: 'state' }, cli, (p) => progress.push(p));

    expect(run).toMatchObject({ policy: 'state', node: null, app: null, sourceKind: 'control-plane', trigger: 'manual', attempt: 1, status: 'ok', error: null, copies: [{ destination: 'disk', ok: true, error: null }] });
    expect(run.plainBytes).toBeGreaterThan(4096);
    expect(run.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(progress.map((p) => p.phase)).toEqual(expect.arrayContaining(['reading', 'uploading', 'pruning']));
    expect(changed).toEqual(['running', 'ok']);
    const [folder] = runFolders(backups, policy.id);
    expect(folder).toBe(run.id);
    const sealed = readFileSync(join(backups, 'control-plane', policy.id, run.id, 'data.sealed'));
    expect(sealed.length).toBe(run.sealedBytes);
    // Sealed: neither SQLite's header nor any stored name is readable in it.
    expect(sealed.includes(Buffer.from('SQLite format 3'))).toBe(false);
    expect(sealed.includes(Buffer.from('localhost/app:v1'))).toBe(false);
    expect(readdirSync(join(cp.db.$client.name, '..')).filter((f) => f.startsWith(SNAPSHOT_PREFIX))).toEqual([]);
    expect((await cp.router.invoke('backups.policies.list', {}, cli))[0].lastRun).toMatchObject({ id: run.id, status: 'ok' });
    expect((await cp.router.invoke('audit.list', { limit: 1 }, cli))[0]).toMatchObject({ action: 'backup.run', target: 'state', result: 'ok' });
  });

  it('keeps what its retention keeps: older runs are pruned and deleted from the destination', async () => {
    const { cp, backups } = await stateWithEverything();
    const policy = await cp.router.invoke('backups.policies.set', { name: 'state', source: { kind: 'control-plane' }, destinations: ['disk'], retention: { last: 2, daily: 0, weekly: 0, monthly: 0 } }, cli);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await cp.router.invoke('backups.run', { policy: 'state' }, cli)).id);
    expect(runFolders(backups, policy.id)).toEqual([ids[1], ids[2]].sort());
    const runs = await cp.router.invoke('backups.runs', { policy: 'state' }, cli);
    expect(Object.fromEntries(runs.map((r) => [r.id, r.status]))).toEqual({ [ids[0]]: 'pruned', [ids[1]]: 'ok', [ids[2]]: 'ok' });
  });

  it('a destination that fails makes a failed run with the reason and the failed copy; the snapshot is removed', async () => {
    const { cp } = await stateWithEverything();
    const file = join(mkdtempSync(join(tmpdir(), 'pp-cp-notdir-')), 'a-file');
    writeFileSync(file, 'not a folder');
    await cp.router.invoke('backups.destinations.set', { kind: 'local', name: 'broken', path: join(file, 'sub') }, cli);
    await cp.router.invoke('backups.policies.set', { name: 'state', source: { kind: 'control-plane' }, destinations: ['broken'] }, cli);
    const run = await cp.router.invoke('backups.run', { policy: 'state' }, cli);
    expect(run.status).toBe('failed');
    expect(run.error).toContain(`backup run ${run.id} failed: destination`);
    expect(run.error).toContain(`local folder ${join(file, 'sub')}`);
    expect(run.copies).toEqual([{ destination: 'broken', ok: false, error: expect.any(String) }]);
    expect(run.finishedAt).not.toBeNull();
    expect(readdirSync(join(cp.db.$client.name, '..')).filter((f) => f.startsWith(SNAPSHOT_PREFIX))).toEqual([]);
  });

  it('comes back in a fresh data folder: nodes, apps, releases and secrets (which still open)', async () => {
    const { cp, backups, app } = await stateWithEverything();
    await cp.router.invoke('backups.policies.set', { name: 'state', source: { kind: 'control-plane' }, destinations: ['disk'] }, cli);
    const run = await cp.router.invoke('backups.run', { policy: 'state' }, cli);
    const fresh = mkdtempSync(join(tmpdir(), 'pp-cp-fresh-'));
    const destination = new LocalDestination(backups);

    await expect(restoreState({ destination, masterKey: Buffer.alloc(32, 2), dataDir: fresh, latest: true })).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining('opens with this master key') });
    const restored = await restoreState({ destination, masterKey: MASTER, dataDir: fresh, latest: true });
    expect(restored).toMatchObject({ run: run.id, policy: 'state', plainBytes: run.plainBytes, sha256: run.sha256 });
    expect(statSync(restored.file).mode & 0o777).toBe(0o600);
    await expect(restoreState({ destination, masterKey: MASTER, dataDir: fresh, run: run.id })).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('already holds') });

    const back = await createControlPlane({ dataDir: fresh, masterKey: MASTER, agentBundlePath: join(fresh, 'none') });
    open.push(back);
    expect((await back.router.invoke('nodes.list', {}, cli)).map((n) => n.name)).toEqual(['n1']);
    expect((await back.router.invoke('apps.list', {}, cli)).map((a) => [a.name, a.node, a.currentRelease?.number])).toEqual([['web', 'n1', 1]]);
    expect((await back.router.invoke('secrets.list', { app: 'web' }, cli)).secrets.map((s) => s.name)).toEqual(['DATABASE_URL']);
    expect(new SecretStore(back.db, new Vault(back.db, MASTER)).values(app.id, 1)).toEqual({ DATABASE_URL: 'postgres://u:hunter2@db/app' });
    expect((await back.router.invoke('backups.destinations.list', {}, cli)).map((d) => d.name)).toEqual(['disk']);
  });

  it('a tampered backup is refused and no database file is written', async () => {
    const { cp, backups } = await stateWithEverything();
    const policy = await cp.router.invoke('backups.policies.set', { name: 'state', source: { kind: 'control-plane' }, destinations: ['disk'] }, cli);
    const run = await cp.router.invoke('backups.run', { policy: 'state' }, cli);
    const data = join(backups, 'control-plane', policy.id, run.id, 'data.sealed');
    const bytes = readFileSync(data);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(data, bytes);
    const fresh = mkdtempSync(join(tmpdir(), 'pp-cp-fresh-'));
    await expect(restoreState({ destination: new LocalDestination(backups), masterKey: MASTER, dataDir: fresh, run: run.id.slice(0, 8) })).rejects.toMatchObject({ code: 'integrity' });
    expect(readdirSync(fresh)).toEqual([]);
  });
});
