import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from 'node:crypto';

export const KEY_BYTES = 32;
const NONCE_BYTES = 24;
const VERSION = 1;

// A small secret sealed with XChaCha20-Poly1305: version byte, 24-byte random nonce, ciphertext.
// `context` is bound as associated data so a value cannot be moved to another slot.
export function seal(key: Uint8Array, plaintext: Uint8Array, context: string): Buffer {
  assertKey(key);
  const nonce = randomBytes(NONCE_BYTES);
  const ct = xchacha20poly1305(key, nonce, Buffer.from(context)).encrypt(plaintext);
  return Buffer.concat([Buffer.from([VERSION]), nonce, ct]);
}

export function open(key: Uint8Array, sealed: Uint8Array, context: string): Buffer {
  assertKey(key);
  if (sealed.length < 1 + NONCE_BYTES + 16 || sealed[0] !== VERSION) {
    throw new Error(`sealed value for '${context}' is malformed`);
  }
  const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
  try {
    return Buffer.from(xchacha20poly1305(key, nonce, Buffer.from(context)).decrypt(sealed.subarray(1 + NONCE_BYTES)));
  } catch {
    throw new Error(`cannot decrypt '${context}': wrong master key or altered data`);
  }
}

export function sealJson(key: Uint8Array, value: unknown, context: string): Buffer {
  return seal(key, Buffer.from(JSON.stringify(value)), context);
}

export function openJson<T>(key: Uint8Array, sealed: Uint8Array, context: string): T {
  return JSON.parse(open(key, sealed, context).toString('utf8')) as T;
}

function assertKey(key: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new Error(`master key must be ${KEY_BYTES} bytes, got ${key.length}`);
}
