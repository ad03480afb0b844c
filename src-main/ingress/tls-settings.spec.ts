// tls.get/tls.set on a real control plane (no nodes): stored in the settings table across a
// restart, refused input changes nothing, the extra root is shown by fingerprint.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TestCa } from '../../test/support/test-ca';
import { createControlPlane, type ControlPlane } from '../control-plane';
import { readTlsSettings } from './tls-settings';

const open: ControlPlane[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
});
const cli = { actor: 'admin', source: 'cli' as const };

async function start(dir: string) {
  const cp = await createControlPlane({ dataDir: dir, agentBundlePath: join(dir, 'master.key') });
  open.push(cp);
  return cp;
}

describe('the control plane\'s TLS settings', () => {
  it('defaults to Let\'s Encrypt, stores changes field by field, and keeps them across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-tls-'));
    const cp = await start(dir);
    expect(await cp.router.invoke('tls.get', {}, cli)).toEqual({ acmeDirectory: 'https://acme-v02.api.letsencrypt.org/directory', acmeEmail: '', acmeCaRoot: null, httpRedirect: 'public' });
    const ca = await TestCa.create('Private ACME root');
    const r = await cp.router.invoke('tls.set', { acmeDirectory: 'https://acme.internal/dir', acmeEmail: 'ops@example.com', acmeCaRootPem: ca.certPem }, cli);
    expect(r.nodes).toEqual([]);
    expect(r.settings).toMatchObject({ acmeDirectory: 'https://acme.internal/dir', acmeEmail: 'ops@example.com', httpRedirect: 'public', acmeCaRoot: { subject: 'CN=Private ACME root' } });
    expect(r.settings.acmeCaRoot?.sha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    await cp.router.invoke('tls.set', { httpRedirect: 'all' }, cli);
    await cp.close();
    open.pop();
    const again = await start(dir);
    expect(readTlsSettings(again.db)).toEqual({ acmeDirectory: 'https://acme.internal/dir', acmeEmail: 'ops@example.com', acmeCaRootPem: `${ca.certPem.trim()}\n`, httpRedirect: 'all' });
    await again.router.invoke('tls.set', { acmeCaRootPem: '', acmeEmail: '' }, cli);
    expect(await again.router.invoke('tls.get', {}, cli)).toMatchObject({ acmeEmail: '', acmeCaRoot: null });
  });

  it('refuses unusable settings and a root that is not a CA, changing nothing', async () => {
    const cp = await start(mkdtempSync(join(tmpdir(), 'pp-tls-')));
    const before = await cp.router.invoke('tls.get', {}, cli);
    await expect(cp.router.invoke('tls.set', { acmeDirectory: 'ftp://acme/dir' }, cli)).rejects.toThrow('the ACME directory must be an https:// URL');
    await expect(cp.router.invoke('tls.set', { acmeEmail: 'nobody' }, cli)).rejects.toThrow('"nobody" is not an email address');
    const ca = await TestCa.create();
    const leaf = await ca.issue({ commonName: 'acme.test', dnsNames: ['acme.test'], usage: 'server' });
    await expect(cp.router.invoke('tls.set', { acmeCaRootPem: leaf.certPem }, cli)).rejects.toThrow('is not a CA certificate');
    expect(await cp.router.invoke('tls.get', {}, cli)).toEqual(before);
    const audit = await cp.router.invoke('audit.list', {}, cli);
    expect(audit.filter((a) => a.action === 'tls.set').map((a) => a.result)).toEqual(['error', 'error', 'error']);
  });
});
