import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../api/contract';
import { createControlPlane, type ControlPlane } from '../control-plane';
import { Vault } from '../crypto/vault';
import { NodeStore } from '../nodes/node-store';
import { SecretStore } from './secret-store';

const open: ControlPlane[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});

const alice = { actor: 'alice', source: 'cli' as const };
const bob = { actor: 'bob', source: 'browser' as const };

async function withApp(): Promise<{ cp: ControlPlane; dir: string; masterKey: Buffer; appId: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'pp-secrets-'));
  const masterKey = randomBytes(32);
  const cp = await createControlPlane({ dataDir: dir, masterKey });
  open.push(cp);
  new NodeStore(cp.db, new Vault(cp.db, masterKey)).insert({
    id: 'n-1', name: 'n1', host: '10.0.0.1', port: 22, sshUser: 'deploy', hostKeyFingerprint: 'SHA256:x', hostKey: 'AAAA',
    auth: { kind: 'agent' }, agentPort: 7443, serviceMode: 'supervisor', agentVersion: '0.1.0', agentSha256: 'x',
    facts: null, usage: null, labels: {}, lastSeenAt: null, createdAt: Date.now(),
  });
  const app = await cp.router.invoke('apps.create', { spec: { name: 'web', node: 'n1', source: { kind: 'image', image: 'localhost/app:v1' } } }, alice);
  return { cp, dir, masterKey, appId: app.id };
}

// Every byte the control plane keeps in its data folder (the SQLite file, its WAL, keys).
function dataFolderBytes(dir: string): Buffer {
  return Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))));
}

describe('secrets store and API', () => {
  it('every set and unset makes a new version of the whole set, with who and when per name', async () => {
    const { cp } = await withApp();
    expect(await cp.router.invoke('secrets.list', { app: 'web' }, alice)).toEqual({ app: 'web', version: 0, secrets: [] });
    const v1 = await cp.router.invoke('secrets.set', { app: 'web', values: { DB_URL: 'postgres://x', API_KEY: 'k1' } }, alice);
    expect(v1.version).toBe(1);
    expect(v1.secrets.map((s) => [s.name, s.updatedBy])).toEqual([['API_KEY', 'alice'], ['DB_URL', 'alice']]);
    const v2 = await cp.router.invoke('secrets.set', { app: 'web', values: { API_KEY: 'k2' } }, bob);
    expect(v2.version).toBe(2);
    expect(v2.secrets.find((s) => s.name === 'API_KEY')!.updatedBy).toBe('bob');
    expect(v2.secrets.find((s) => s.name === 'DB_URL')).toEqual(v1.secrets.find((s) => s.name === 'DB_URL'));
    const v3 = await cp.router.invoke('secrets.unset', { app: 'web', names: ['DB_URL'] }, bob);
    expect(v3).toMatchObject({ version: 3, secrets: [{ name: 'API_KEY' }] });
    expect(await cp.router.invoke('secrets.list', { app: 'web' }, alice)).toEqual(v3);
  });

  it('keeps every version, so a release can get its exact set back', async () => {
    const { cp, appId, masterKey } = await withApp();
    await cp.router.invoke('secrets.set', { app: 'web', values: { A: 'one', B: 'two' } }, alice);
    await cp.router.invoke('secrets.set', { app: 'web', values: { A: 'uno' } }, alice);
    await cp.router.invoke('secrets.unset', { app: 'web', names: ['B'] }, alice);
    const store = new SecretStore(cp.db, new Vault(cp.db, masterKey));
    expect(store.values(appId, 0)).toEqual({});
    expect(store.values(appId, 1)).toEqual({ A: 'one', B: 'two' });
    expect(store.values(appId, 2)).toEqual({ A: 'uno', B: 'two' });
    expect(store.values(appId, 3)).toEqual({ A: 'uno' });
    // Another master key opens nothing.
    expect(() => new SecretStore(cp.db, new Vault(cp.db, randomBytes(32))).values(appId, 1)).toThrow(/wrong master key/);
  });

  it('is write-only: no answer, no audit entry and no byte of the data folder holds a value', async () => {
    const { cp, dir } = await withApp();
    const value = `pp-secret-${randomBytes(8).toString('hex')}`;
    const answers = [
      await cp.router.invoke('secrets.set', { app: 'web', values: { TOKEN: value, OTHER: 'x' } }, alice),
      await cp.router.invoke('secrets.list', { app: 'web' }, alice),
      await cp.router.invoke('secrets.unset', { app: 'web', names: ['OTHER'] }, alice),
    ];
    expect(JSON.stringify(answers)).not.toContain(value);
    const audit = await cp.router.invoke('audit.list', {}, alice);
    const secretEntries = audit.filter((e) => e.action.startsWith('secrets.'));
    expect(secretEntries.map((e) => e.detail)).toEqual(['version 2: unset OTHER; the next deploy applies it', 'version 1: set OTHER, TOKEN; the next deploy applies it']);
    expect(JSON.stringify(audit)).not.toContain(value);
    // The search would find a plain value that is there: the app's image reference is.
    const bytes = dataFolderBytes(dir);
    expect(bytes.includes(Buffer.from('localhost/app:v1'))).toBe(true);
    expect(bytes.includes(Buffer.from(value))).toBe(false);
  });

  it('refuses invalid names, unknown names, NUL bytes, an empty set and an unknown app, changing nothing', async () => {
    const { cp } = await withApp();
    await cp.router.invoke('secrets.set', { app: 'web', values: { GOOD: 'v' } }, alice);
    const refused = async (op: () => Promise<unknown>, message: RegExp) => {
      const err = await op().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).message).toMatch(message);
    };
    await refused(() => cp.router.invoke('secrets.set', { app: 'web', values: { 'bad-name': 'v', OK: 'v' } }, alice), /invalid secret name: 'bad-name'.*nothing was changed/);
    await refused(() => cp.router.invoke('secrets.set', { app: 'web', values: { '1ABC': 'v' } }, alice), /'1ABC'/);
    await refused(() => cp.router.invoke('secrets.set', { app: 'web', values: { PODPLOY_X: 'v' } }, alice), /reserved/);
    await refused(() => cp.router.invoke('secrets.set', { app: 'web', values: { NUL: 'a\0b' } }, alice), /NUL byte/);
    await refused(() => cp.router.invoke('secrets.set', { app: 'web', values: {} }, alice), /no secret given/);
    await refused(() => cp.router.invoke('secrets.unset', { app: 'web', names: ['GOOD', 'MISSING'] }, alice), /no secret named 'MISSING'; nothing was changed/);
    await refused(() => cp.router.invoke('secrets.unset', { app: 'web', names: ['bad name'] }, alice), /invalid secret name/);
    await refused(() => cp.router.invoke('secrets.list', { app: 'nope' }, alice), /no app named 'nope'/);
    const after = await cp.router.invoke('secrets.list', { app: 'web' }, alice);
    expect(after).toMatchObject({ version: 1, secrets: [{ name: 'GOOD' }] });
    const audit = await cp.router.invoke('audit.list', {}, alice);
    expect(audit.filter((e) => e.action.startsWith('secrets.') && e.result === 'error')).toHaveLength(7);
  });

  it('deleting the app deletes its secrets', async () => {
    const { cp, appId, masterKey } = await withApp();
    await cp.router.invoke('secrets.set', { app: 'web', values: { A: 'one' } }, alice);
    await cp.router.invoke('apps.delete', { name: 'web' }, alice);
    expect(new SecretStore(cp.db, new Vault(cp.db, masterKey)).current(appId)).toEqual({ version: 0, entries: [] });
  });
});
