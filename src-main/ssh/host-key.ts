import { createHash } from 'node:crypto';

// OpenSSH's fingerprint format: SHA256:<unpadded base64 of the key blob's digest>.
export function fingerprintOf(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const len = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + len).toString('ascii') || 'unknown';
}
