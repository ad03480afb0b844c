import { describe, expect, it } from 'vitest';
import { DEFAULT_INGRESS_TLS, tlsSettingsProblems, usesInternalCa } from './ingress-tls';

describe('which names get Caddy\'s internal CA', () => {
  it('localhost, IP addresses, single labels and the reserved TLDs; public names go to ACME', () => {
    for (const d of ['localhost', 'app.localhost', '10.0.0.7', '::1', '[::1]', 'web.test', 'x.example', 'a.invalid', 'nas.local', 'db.internal', 'tv.home.arpa', 'intranet', 'WEB.TEST.'])
      expect(usesInternalCa(d), d).toBe(true);
    for (const d of ['app.example.com', 'example.org', 'shop.test.com', 'localhost.dev', 'home.arpa.net']) expect(usesInternalCa(d), d).toBe(false);
  });
});

describe('TLS settings', () => {
  it('accepts the defaults (Let\'s Encrypt, no email, redirect public names)', () => {
    expect(DEFAULT_INGRESS_TLS).toEqual({ acmeDirectory: 'https://acme-v02.api.letsencrypt.org/directory', acmeEmail: '', acmeCaRootPem: '', httpRedirect: 'public' });
    expect(tlsSettingsProblems(DEFAULT_INGRESS_TLS)).toEqual([]);
  });

  it('names every problem', () => {
    expect(tlsSettingsProblems({ acmeDirectory: 'http://acme/dir', acmeEmail: 'ops', acmeCaRootPem: 'hello', httpRedirect: 'sometimes' as never })).toEqual([
      'the ACME directory must be an https:// URL (ACME runs over HTTPS), not http://',
      '"ops" is not an email address',
      'the ACME CA root is not a PEM certificate (-----BEGIN CERTIFICATE-----)',
      'http redirect "sometimes" must be one of public, all, off',
    ]);
    expect(tlsSettingsProblems({ ...DEFAULT_INGRESS_TLS, acmeDirectory: 'not a url' })).toEqual(['the ACME directory "not a url" is not a URL']);
  });
});
