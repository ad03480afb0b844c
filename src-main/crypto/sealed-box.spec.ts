import { randomBytes } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { describe, expect, it } from 'vitest';
import { open, seal } from './sealed-box';

describe('sealed box (XChaCha20-Poly1305)', () => {
  const key = randomBytes(32);

  it('round-trips and never contains the plaintext', () => {
    const secret = Buffer.from('super secret password 123');
    const sealed = seal(key, secret, 'ctx');
    expect(sealed.includes(secret)).toBe(false);
    expect(open(key, sealed, 'ctx')).toEqual(secret);
  });

  it('is the standard construction: noble decrypts it directly', () => {
    const sealed = seal(key, Buffer.from('hello'), 'ctx');
    const plain = xchacha20poly1305(key, sealed.subarray(1, 25), Buffer.from('ctx')).decrypt(sealed.subarray(25));
    expect(Buffer.from(plain).toString()).toBe('hello');
  });

  it('detects a wrong key, another context and altered bytes', () => {
    const sealed = seal(key, Buffer.from('hello'), 'ctx');
    expect(() => open(randomBytes(32), sealed, 'ctx')).toThrow(/wrong master key or altered/);
    expect(() => open(key, sealed, 'other')).toThrow(/cannot decrypt/);
    const altered = Buffer.from(sealed);
    altered[altered.length - 3] ^= 1;
    expect(() => open(key, altered, 'ctx')).toThrow(/cannot decrypt/);
    expect(() => open(key, sealed.subarray(0, 10), 'ctx')).toThrow(/malformed/);
  });
});
