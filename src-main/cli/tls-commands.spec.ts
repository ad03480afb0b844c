import { describe, expect, it } from 'vitest';
import { formatTls, tlsSetInput } from './tls-commands';

const files: Record<string, string> = { '/root.pem': '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n' };
const read = (p: string) => {
  if (p in files) return files[p];
  throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
};

describe('podploy tls set flags', () => {
  it('sends only the flags given; --acme-ca-root is read from its file, "" clears it', () => {
    expect(tlsSetInput({ acmeDirectory: 'https://acme.test/dir', email: 'ops@example.com', acmeCaRoot: '/root.pem', httpRedirect: 'all' }, read)).toEqual({
      acmeDirectory: 'https://acme.test/dir',
      acmeEmail: 'ops@example.com',
      acmeCaRootPem: files['/root.pem'],
      httpRedirect: 'all',
    });
    expect(tlsSetInput({ email: '' }, read)).toEqual({ acmeEmail: '' });
    expect(tlsSetInput({ acmeCaRoot: '' }, read)).toEqual({ acmeCaRootPem: '' });
  });

  it('refuses nothing to set, a missing file and an unknown redirect mode', () => {
    expect(() => tlsSetInput({}, read)).toThrow('nothing to set');
    expect(() => tlsSetInput({ acmeCaRoot: '/nope.pem' }, read)).toThrow('--acme-ca-root /nope.pem: no such file');
    expect(() => tlsSetInput({ httpRedirect: 'sometimes' }, read)).toThrow('--http-redirect sometimes: must be one of public, all, off');
  });

  it('shows the settings and which names use which CA', () => {
    const text = formatTls({ acmeDirectory: 'https://acme.test/dir', acmeEmail: '', acmeCaRoot: null, httpRedirect: 'off' });
    expect(text).toContain('acme directory  https://acme.test/dir\nemail           (none)\nacme ca root    (system roots)\nhttp redirect   off\n');
  });
});
