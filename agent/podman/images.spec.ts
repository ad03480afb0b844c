import { describe, expect, it } from 'vitest';
import { registryAuthHeader } from './images';

describe('registryAuthHeader', () => {
  it('is padded URL-safe base64 of the JSON, as Podman decodes it', () => {
    const auth = { username: 'ci?>', password: 'p~~?>>', serveraddress: '127.0.0.1:5000' };
    const header = registryAuthHeader(auth);
    expect(header).toMatch(/^[A-Za-z0-9_-]+=*$/);
    expect(header.length % 4).toBe(0);
    expect(JSON.parse(Buffer.from(header, 'base64url').toString('utf8'))).toEqual(auth);
  });
});
