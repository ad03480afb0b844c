// Purpose keys derived from the master key (HKDF-SHA256), so each kind of sealed data has its own
// key and a leak of one opens nothing else. Each purpose owns one info label, written here once.
import { hkdfSync } from 'node:crypto';

export const DERIVED_KEY_BYTES = 32;
export const RECORDINGS_KEY_INFO = 'podploy/recordings/v1';
// A fixed, public salt: the master key is already uniformly random (RFC 5869, 3.1).
const HKDF_SALT = Buffer.from('podploy/derived-keys');

export function deriveKey(masterKey: Uint8Array, info: string): Uint8Array {
  if (masterKey.length !== DERIVED_KEY_BYTES) throw new Error(`the master key must be ${DERIVED_KEY_BYTES} bytes, got ${masterKey.length}`);
  return new Uint8Array(hkdfSync('sha256', masterKey, HKDF_SALT, info, DERIVED_KEY_BYTES));
}

export const recordingsKey = (masterKey: Uint8Array): Uint8Array => deriveKey(masterKey, RECORDINGS_KEY_INFO);
