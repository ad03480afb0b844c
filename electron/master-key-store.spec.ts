import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateDesktopMasterKey, MASTER_KEY_ENC_FILE, MasterKeyError, type SafeStorageLike } from './master-key-store';

// A mock of Electron's safeStorage: reversible, and visibly not plain text.
function mockElectronSafeStorage(opts: { available?: boolean; backend?: string } = {}): SafeStorageLike {
  return {
    isEncryptionAvailable: () => opts.available ?? true,
    encryptString: (s) => Buffer.from('ENC:' + Buffer.from(s).toString('hex')),
    decryptString: (b) => {
      const t = b.toString();
      if (!t.startsWith('ENC:')) throw new Error('Error while decrypting the ciphertext provided to safeStorage.decryptString.');
      return Buffer.from(t.slice(4), 'hex').toString();
    },
    getSelectedStorageBackend: () => opts.backend ?? 'gnome_libsecret',
  };
}

describe('desktop master key', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'podploy-mk-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a 32-byte key once, stores it only encrypted (0600), and reads the same key back', () => {
    const ss = mockElectronSafeStorage();
    const key = loadOrCreateDesktopMasterKey(dir, ss, 'linux');
    expect(key).toHaveLength(32);
    const file = join(dir, MASTER_KEY_ENC_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(Buffer.from(key).toString('base64'));
    expect(Buffer.from(loadOrCreateDesktopMasterKey(dir, ss, 'linux')).equals(Buffer.from(key))).toBe(true);
  });

  it('refuses without a keychain, and on Linux with the hard-coded basic_text backend', () => {
    expect(() => loadOrCreateDesktopMasterKey(dir, mockElectronSafeStorage({ available: false }), 'darwin')).toThrow(MasterKeyError);
    expect(() => loadOrCreateDesktopMasterKey(dir, mockElectronSafeStorage({ backend: 'basic_text' }), 'linux')).toThrow(/hard-coded password/);
  });

  it('does not replace a key it cannot decrypt', () => {
    loadOrCreateDesktopMasterKey(dir, mockElectronSafeStorage(), 'linux');
    const before = readFileSync(join(dir, MASTER_KEY_ENC_FILE));
    const broken: SafeStorageLike = { ...mockElectronSafeStorage(), decryptString: () => { throw new Error('keychain reset'); } };
    expect(() => loadOrCreateDesktopMasterKey(dir, broken, 'linux')).toThrow(/cannot be decrypted/);
    expect(readFileSync(join(dir, MASTER_KEY_ENC_FILE)).equals(before)).toBe(true);
  });
});
