// The desktop app's master key: 32 random bytes, kept on disk only encrypted by the OS keychain
// (Electron's safeStorage). No Electron import: main.ts passes safeStorage in.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MasterKeyError } from '../src-main/crypto/master-key';
import { KEY_BYTES as MASTER_KEY_BYTES } from '../src-main/crypto/sealed-box';

export { MasterKeyError };
export const MASTER_KEY_ENC_FILE = 'master.key.enc';

export interface SafeStorageLike {
  isEncryptionAvailable(): boolean;
  encryptString(plain: string): Buffer;
  decryptString(encrypted: Buffer): string;
  // Linux only: 'basic_text' means a hard-coded password, i.e. no real protection.
  getSelectedStorageBackend?(): string;
}

export function loadOrCreateDesktopMasterKey(dataDir: string, safeStorage: SafeStorageLike, platform = process.platform): Uint8Array {
  if (!safeStorage.isEncryptionAvailable()) {
    throw new MasterKeyError(
      'The operating system keychain is not available, so PodPloy cannot protect its master key.',
      keychainHint(platform),
    );
  }
  if (platform === 'linux' && safeStorage.getSelectedStorageBackend?.() === 'basic_text') {
    throw new MasterKeyError(
      'No secret service (GNOME Keyring, KWallet) was found: the key would be stored with a hard-coded password.',
      keychainHint(platform),
    );
  }
  const file = join(dataDir, MASTER_KEY_ENC_FILE);
  if (existsSync(file)) {
    let plain: string;
    try {
      plain = safeStorage.decryptString(readFileSync(file));
    } catch (err) {
      throw new MasterKeyError(
        `The master key in ${file} cannot be decrypted by this keychain (${(err as Error).message}).`,
        'Was the keychain reset or the data folder copied from another machine? Restore the keychain entry; do not delete the file, or the stored secrets are lost.',
      );
    }
    const key = Buffer.from(plain, 'base64');
    if (key.length !== MASTER_KEY_BYTES) {
      throw new MasterKeyError(`${file} does not hold a ${MASTER_KEY_BYTES}-byte key.`, 'Restore the file from a backup.');
    }
    return key;
  }
  const key = randomBytes(MASTER_KEY_BYTES);
  writeFileSync(file, safeStorage.encryptString(key.toString('base64')), { mode: 0o600, flag: 'wx' });
  return key;
}

function keychainHint(platform: string): string {
  if (platform === 'linux') {
    return 'Install and unlock a secret service (gnome-keyring or kwallet), or start PodPloy with --password-store=gnome-libsecret or --password-store=kwallet5. A headless alternative is `podploy serve`.';
  }
  return 'Unlock the keychain of your user account and start PodPloy again.';
}
