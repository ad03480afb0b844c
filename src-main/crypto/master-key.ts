import { randomBytes, scryptSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KEY_BYTES, open, seal } from './sealed-box';

export const MASTER_KEY_FILE = 'master.key';
// Salt and scrypt parameters of a passphrase-derived key, plus a check value sealed under the
// key so a wrong passphrase is named at start instead of failing on the first decrypt.
export const MASTER_SALT_FILE = 'master.salt.json';

// scrypt cost: N = 2^17, r = 8, p = 1 (OWASP's minimum for scrypt); needs 128 MiB and about
// half a second here, once per start.
export const SCRYPT_N = 2 ** 17;
export const SCRYPT_R = 8;
export const SCRYPT_P = 1;
const SCRYPT_MAXMEM = 256 * 1024 * 1024;
const SALT_BYTES = 16;
const CHECK_CONTEXT = 'podploy-master-passphrase-check';
const CHECK_PLAINTEXT = Buffer.from('podploy master key v1');
export const MIN_PASSPHRASE_LENGTH = 12;

export class MasterKeyError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'MasterKeyError';
  }
}

interface SaltFile {
  kdf: 'scrypt';
  salt: string;
  N: number;
  r: number;
  p: number;
  check: string;
}

// The headless control plane's master key, first match wins: PODPLOY_MASTER_KEY (base64),
// PODPLOY_MASTER_PASSPHRASE (stretched with scrypt; the salt stays in the data dir), or a 0600
// key file beside the database. A data dir made with one of the last two refuses the other,
// since it would be a different key. The desktop app passes its own, kept by the OS keychain.
export function loadOrCreateMasterKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): Uint8Array {
  if (env.PODPLOY_MASTER_KEY) {
    const key = Buffer.from(env.PODPLOY_MASTER_KEY, 'base64');
    if (key.length !== KEY_BYTES) throw new Error(`PODPLOY_MASTER_KEY must be ${KEY_BYTES} bytes of base64`);
    return key;
  }
  const keyFile = join(dataDir, MASTER_KEY_FILE);
  const saltFile = join(dataDir, MASTER_SALT_FILE);
  if (env.PODPLOY_MASTER_PASSPHRASE !== undefined) {
    if (existsSync(keyFile)) {
      throw new MasterKeyError(
        `${dataDir} is sealed with the key file ${keyFile}, not with a passphrase`,
        'unset PODPLOY_MASTER_PASSPHRASE to use the key file (a passphrase would derive a different key and open nothing)',
      );
    }
    return passphraseKey(saltFile, env.PODPLOY_MASTER_PASSPHRASE);
  }
  if (existsSync(saltFile)) {
    throw new MasterKeyError(`${dataDir} is sealed with a passphrase`, 'set PODPLOY_MASTER_PASSPHRASE to the passphrase it was created with');
  }
  if (existsSync(keyFile)) {
    const key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64');
    if (key.length !== KEY_BYTES) throw new Error(`${keyFile} does not hold a ${KEY_BYTES}-byte base64 key`);
    return key;
  }
  const key = randomBytes(KEY_BYTES);
  writeFileSync(keyFile, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  return key;
}

function passphraseKey(saltFile: string, passphrase: string): Uint8Array {
  if (!existsSync(saltFile)) {
    if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
      throw new MasterKeyError(`PODPLOY_MASTER_PASSPHRASE is too short (${passphrase.length} characters)`, `use at least ${MIN_PASSPHRASE_LENGTH} characters; a few random words are easy to type and hard to guess`);
    }
    const salt = randomBytes(SALT_BYTES);
    const key = derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P);
    const file: SaltFile = { kdf: 'scrypt', salt: salt.toString('base64'), N: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P, check: seal(key, CHECK_PLAINTEXT, CHECK_CONTEXT).toString('base64') };
    writeFileSync(saltFile, JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    return key;
  }
  let file: SaltFile;
  try {
    file = JSON.parse(readFileSync(saltFile, 'utf8')) as SaltFile;
    if (file.kdf !== 'scrypt' || !file.salt || !file.check || !Number.isInteger(file.N)) throw new Error('missing fields');
  } catch (err) {
    throw new MasterKeyError(`${saltFile} is damaged (${(err as Error).message})`, 'restore it from a backup of the data dir; without it the passphrase cannot re-derive the key');
  }
  const key = derive(passphrase, Buffer.from(file.salt, 'base64'), file.N, file.r, file.p);
  try {
    open(key, Buffer.from(file.check, 'base64'), CHECK_CONTEXT);
  } catch {
    throw new MasterKeyError('PODPLOY_MASTER_PASSPHRASE is not the passphrase this data dir was created with', `check the passphrase; ${saltFile} holds the salt it was stretched with`);
  }
  return key;
}

function derive(passphrase: string, salt: Buffer, N: number, r: number, p: number): Buffer {
  return scryptSync(passphrase.normalize('NFC'), salt, KEY_BYTES, { N, r, p, maxmem: SCRYPT_MAXMEM });
}
