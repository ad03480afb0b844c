import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateMasterKey, MASTER_KEY_FILE, MASTER_SALT_FILE, MasterKeyError } from './master-key';

const dirs: string[] = [];
const dataDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'podploy-master-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const PASS = 'correct horse battery staple';

describe('master key for podploy serve', () => {
  it('creates a 0600 key file once and reads it back', () => {
    const dir = dataDir();
    const key = loadOrCreateMasterKey(dir, {});
    expect(statSync(join(dir, MASTER_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(Buffer.from(loadOrCreateMasterKey(dir, {}))).toEqual(Buffer.from(key));
  });

  it('stretches PODPLOY_MASTER_PASSPHRASE with scrypt: same passphrase same key, salt kept 0600 in the data dir, no key file', () => {
    const dir = dataDir();
    const key = loadOrCreateMasterKey(dir, { PODPLOY_MASTER_PASSPHRASE: PASS });
    expect(key.length).toBe(32);
    const saltFile = join(dir, MASTER_SALT_FILE);
    expect(statSync(saltFile).mode & 0o777).toBe(0o600);
    const salt = JSON.parse(readFileSync(saltFile, 'utf8'));
    expect(salt).toMatchObject({ kdf: 'scrypt', N: 2 ** 17, r: 8, p: 1 });
    expect(readFileSync(saltFile, 'utf8')).not.toContain(Buffer.from(key).toString('base64'));
    expect(() => statSync(join(dir, MASTER_KEY_FILE))).toThrow();
    expect(Buffer.from(loadOrCreateMasterKey(dir, { PODPLOY_MASTER_PASSPHRASE: PASS }))).toEqual(Buffer.from(key));
    // Another data dir gets another salt, so the same passphrase gives another key.
    expect(Buffer.from(loadOrCreateMasterKey(dataDir(), { PODPLOY_MASTER_PASSPHRASE: PASS }))).not.toEqual(Buffer.from(key));
  });

  it('names a wrong passphrase, a missing one, a short one and a passphrase over a key-file data dir', () => {
    const dir = dataDir();
    loadOrCreateMasterKey(dir, { PODPLOY_MASTER_PASSPHRASE: PASS });
    expect(() => loadOrCreateMasterKey(dir, { PODPLOY_MASTER_PASSPHRASE: PASS + '!' })).toThrow(/not the passphrase this data dir was created with/);
    expect(() => loadOrCreateMasterKey(dir, {})).toThrow(/sealed with a passphrase/);
    expect(() => loadOrCreateMasterKey(dataDir(), { PODPLOY_MASTER_PASSPHRASE: 'short' })).toThrow(MasterKeyError);
    const withFile = dataDir();
    loadOrCreateMasterKey(withFile, {});
    expect(() => loadOrCreateMasterKey(withFile, { PODPLOY_MASTER_PASSPHRASE: PASS })).toThrow(/key file/);
  });

  it('refuses a damaged salt file instead of deriving another key', () => {
    const dir = dataDir();
    writeFileSync(join(dir, MASTER_SALT_FILE), '{"kdf":"scrypt"}');
    expect(() => loadOrCreateMasterKey(dir, { PODPLOY_MASTER_PASSPHRASE: PASS })).toThrow(/damaged/);
  });
});
