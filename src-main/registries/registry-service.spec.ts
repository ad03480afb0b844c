import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openWithNodeKey } from '../../proto/node-seal';
import { procedures } from '../api/contract';
import { AuditLog } from '../audit';
import { Vault } from '../crypto/vault';
import { openDatabase } from '../db/database';
import { ensureNodeSecretsKey } from '../secrets/node-seal';
import { pullAuthFor } from './registry-auth';
import { registryHandlers } from './registry-service';
import { RegistryStore } from './registry-store';

const PASSWORD = `pp-registry-password-${randomBytes(6).toString('hex')}`;
const ctx = { actor: 'admin', source: 'cli' as const };
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'podploy-registries-'));
  dirs.push(dir);
  const db = openDatabase(join(dir, 'podploy.db'));
  const vault = new Vault(db, randomBytes(32));
  const store = new RegistryStore(vault);
  const audit = new AuditLog(db);
  const h = registryHandlers({ store, audit });
  const login = (input: Record<string, unknown>) => h['registries.login'](procedures['registries.login'].input.parse(input), ctx, () => {});
  return { dir, db, vault, store, audit, h, login };
}

describe('registry credentials', () => {
  it('logs in, lists without the password, replaces, logs out; audited without the password', async () => {
    const { h, login, audit } = setup();
    const first = await login({ server: 'https://Registry.Example.com:5000/', username: 'ci', password: PASSWORD });
    expect(first).toMatchObject({ server: 'registry.example.com:5000', username: 'ci', insecure: false, replaced: false });
    expect(JSON.stringify(first)).not.toContain(PASSWORD);
    const again = await login({ server: 'registry.example.com:5000', username: 'deploy', password: 'other', insecure: true });
    expect(again).toMatchObject({ username: 'deploy', insecure: true, replaced: true });
    await login({ server: '127.0.0.1:5000', username: 'u', password: PASSWORD });
    const list = await h['registries.list']({}, ctx, () => {});
    expect(list.map((r) => [r.server, r.username, r.insecure])).toEqual([
      ['127.0.0.1:5000', 'u', false],
      ['registry.example.com:5000', 'deploy', true],
    ]);
    expect(JSON.stringify(list)).not.toContain(PASSWORD);
    expect(list.every((r) => !('password' in r))).toBe(true);
    expect(await h['registries.logout']({ server: '127.0.0.1:5000' }, ctx, () => {})).toEqual({ server: '127.0.0.1:5000' });
    await expect(h['registries.logout']({ server: '127.0.0.1:5000' }, ctx, () => {})).rejects.toThrow('no credentials for registry 127.0.0.1:5000');
    const entries = audit.list(10);
    expect(entries.map((e) => `${e.action} ${e.target} ${e.result}`)).toEqual([
      'registry.logout 127.0.0.1:5000 error',
      'registry.logout 127.0.0.1:5000 ok',
      'registry.login 127.0.0.1:5000 ok',
      'registry.login registry.example.com:5000 ok',
      'registry.login registry.example.com:5000 ok',
    ]);
    expect(JSON.stringify(entries)).not.toContain(PASSWORD);
  });

  it('keeps the password only sealed: not in the database file or its WAL', async () => {
    const { dir, db, login, store } = setup();
    await login({ server: '127.0.0.1:5000', username: 'u', password: PASSWORD });
    expect(store.credentialsFor('127.0.0.1:5000')?.password).toBe(PASSWORD);
    db.$client.close();
    const files = readdirSync(dir);
    expect(files).toContain('podploy.db');
    // The check finds a plain value that is there (the user name), so it would find the password.
    expect(files.some((f) => readFileSync(join(dir, f)).includes('registry.login'))).toBe(true);
    for (const f of files) expect(readFileSync(join(dir, f)).includes(PASSWORD), f).toBe(false);
  });

  it('refuses a server that is not host[:port] and empty credentials', () => {
    const input = procedures['registries.login'].input;
    expect(input.safeParse({ server: 'not a host', username: 'u', password: 'p' }).success).toBe(false);
    expect(input.safeParse({ server: 'r.example', username: '', password: 'p' }).success).toBe(false);
    expect(input.safeParse({ server: 'r.example', username: 'u', password: '' }).success).toBe(false);
  });
});

describe('credentials for a deploy', () => {
  it('seals the registry of the image for the node, and sends nothing for other registries', async () => {
    const { vault, store, login } = setup();
    const key = ensureNodeSecretsKey(vault, 'node-1');
    await login({ server: '127.0.0.1:5000', username: 'u', password: PASSWORD, insecure: true });
    const auth = pullAuthFor(store, { vault }, '127.0.0.1:5000/team/app:v1', 'node-1');
    expect(auth.registryTlsVerify).toBe(false);
    expect(Buffer.from(auth.sealedRegistryAuth).includes(PASSWORD)).toBe(false);
    expect(JSON.parse(Buffer.from(openWithNodeKey(key, 'node-1', auth.sealedRegistryAuth)).toString())).toEqual({ username: 'u', password: PASSWORD, serveraddress: '127.0.0.1:5000' });
    // Sealed for node-1: node-2 cannot open it.
    expect(() => openWithNodeKey(key, 'node-2', auth.sealedRegistryAuth)).toThrow();
    expect(pullAuthFor(store, { vault }, 'ghcr.io/o/app:1', 'node-1')).toEqual({ sealedRegistryAuth: Buffer.alloc(0), registryTlsVerify: true });
  });

  it('a node without a secrets key cannot get credentials: a clear error, nothing sent', async () => {
    const { vault, store, login } = setup();
    await login({ server: '127.0.0.1:5000', username: 'u', password: PASSWORD });
    expect(() => pullAuthFor(store, { vault }, '127.0.0.1:5000/app:1', 'old-node')).toThrow(/has no secrets key/);
  });
});
