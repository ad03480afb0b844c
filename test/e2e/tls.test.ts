// TLS and ports 80/443 end to end on h7: onboarding grants the ports (after refusing without
// consent), `podploy tls set` points the node at a real ACME server (Debian's Pebble, run here on
// loopback inside h7's namespace), and real HTTPS requests are verified against Pebble's root
// (a public-looking name) and Caddy's local root (a test name), with HTTP -> HTTPS redirects.
// Killing Caddy brings back routes and the same certificates.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTestHosts, testHost } from '../hosts/hosts';
import { httpGet } from '../support/app-host';
import { AGENT_DIR_OF, operator, ROOT, sh, sshAs, startHarness, waitFor, type Harness } from '../support/harness';
import { TestCa } from '../support/test-ca';

const hosts = loadTestHosts();
const h7 = testHost(hosts, 'h7');
const user = h7.users.deploy;
const NETNS = `/var/run/netns/${h7.netns}`;
const PUBLIC = 'app.example.com';
const TEST_NAME = 'web.test';
const ACME_PORT = 14000;
const PEBBLE_MGMT_PORT = 15000;
const SYSCTL_FILE = '/etc/sysctl.d/60-podploy-ports.conf';
const RUN_DIR = `${AGENT_DIR_OF(user)}/run`;

let hx: Harness | undefined;
let pebble: ChildProcess | undefined;
let pebbleLog = '';
let dir: string;
let acmeCaRootFile: string;
let pebbleRoot: string;
let caddyRoot: string;

const onHost = (cmd: string) => sshAs(user, h7, hosts.clientKey, cmd);
const inNs = (cmd: string) => sh(`nsenter --net=${NETNS} ${cmd}`);
const portStart = () => Number(inNs('sysctl -n net.ipv4.ip_unprivileged_port_start').trim());
const reset = () => sh(`${join(ROOT, 'test', 'hosts', 'reset-user.sh')} ${user}`);
const addNode = (install: boolean) =>
  hx!.cp.router.invoke(
    'nodes.add',
    { address: `ssh://${user}@${h7.address}:${h7.port}`, auth: { kind: 'key', privateKey: readFileSync(hosts.clientKey, 'utf8') }, acceptNewHostKey: true, name: 'h7', install },
    operator,
    () => {},
  );

interface HttpsAnswer {
  status: number;
  body: string;
  location?: string;
  cert: PeerCertificate;
}

// A real HTTPS request to h7's port 443 for `name` (SNI and Host), verified against `ca` only.
function httpsGet(name: string, path: string, ca: string): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: h7.address, port: 443, servername: name, path, headers: { host: name }, ca, agent: false, timeout: 10_000 }, (res) => {
      const cert = (res.socket as TLSSocket).getPeerCertificate();
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim(), location: res.headers.location, cert }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

function httpsText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

// Caddy's admin API on its unix socket, asked over SSH as the node's user.
function caddyLocalRoot(): string {
  const answer = onHost(`curl -sf --unix-socket ${RUN_DIR}/caddy-admin.sock -H 'Host: ' http://caddy/pki/ca/local`);
  return (JSON.parse(answer) as { root_certificate: string }).root_certificate;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pp-tls-'));
  // Pebble serves its ACME and management APIs over HTTPS with a certificate from a throwaway CA:
  // that CA's root is the "extra trusted root" the control plane hands to the nodes.
  const ca = await TestCa.create('PodPloy test ACME server CA');
  const leaf = await ca.issue({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', h7.address], usage: 'server' });
  acmeCaRootFile = join(dir, 'acme-ca-root.pem');
  writeFileSync(acmeCaRootFile, ca.certPem);
  writeFileSync(join(dir, 'pebble.pem'), leaf.certPem);
  writeFileSync(join(dir, 'pebble-key.pem'), leaf.keyPem);
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${ACME_PORT}`,
      managementListenAddress: `${h7.address}:${PEBBLE_MGMT_PORT}`,
      certificate: join(dir, 'pebble.pem'),
      privateKey: join(dir, 'pebble-key.pem'),
      httpPort: 5002,
      tlsPort: 5001,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  };
  writeFileSync(join(dir, 'pebble.json'), JSON.stringify(config));
  pebble = spawn('nsenter', [`--net=${NETNS}`, 'pebble', '-config', join(dir, 'pebble.json')], {
    env: { ...process.env, PEBBLE_VA_ALWAYS_VALID: '1', PEBBLE_WFE_NONCEREJECT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  pebble.stdout?.on('data', (d) => (pebbleLog += d));
  pebble.stderr?.on('data', (d) => (pebbleLog += d));
  pebbleRoot = await waitFor(`Pebble's management API (log: ${pebbleLog})`, () => httpsText(`https://${h7.address}:${PEBBLE_MGMT_PORT}/roots/0`, ca.certPem), 20_000);

  // A fresh server: its user cannot bind ports below 1024.
  inNs('sysctl -q -w net.ipv4.ip_unprivileged_port_start=1024');
  rmSync(SYSCTL_FILE, { force: true });
  reset();
  sh(`${join(ROOT, 'test', 'images', 'build-test-app.sh')} ${user} >/dev/null`);
  reset();
  hx = await startHarness();
}, 300_000);

afterAll(async () => {
  await hx?.close();
  reset();
  pebble?.kill('SIGTERM');
  inNs('sysctl -q -w net.ipv4.ip_unprivileged_port_start=80');
  rmSync(SYSCTL_FILE, { force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ports 80/443 at onboarding', () => {
  it('without consent stops with the exact commands and changes nothing', async () => {
    const err = await addNode(false).then(
      () => null,
      (e: Error & { hint?: string }) => e,
    );
    expect(err?.message).toMatch(/cannot bind ports 80\/443 for Caddy \(net\.ipv4\.ip_unprivileged_port_start is 1024.*Nothing was changed/);
    expect(err?.hint).toContain('sysctl -w net.ipv4.ip_unprivileged_port_start=80 && echo net.ipv4.ip_unprivileged_port_start=80 | tee /etc/sysctl.d/60-podploy-ports.conf');
    expect(portStart()).toBe(1024);
    expect(existsSync(SYSCTL_FILE)).toBe(false);
    expect(await hx!.cp.router.invoke('nodes.list', {}, operator)).toEqual([]);
  });

  it('with consent grants them through sudo, persists it, and says so', async () => {
    const steps: string[] = [];
    await hx!.cp.router.invoke(
      'nodes.add',
      { address: `ssh://${user}@${h7.address}:${h7.port}`, auth: { kind: 'key', privateKey: readFileSync(hosts.clientKey, 'utf8') }, acceptNewHostKey: true, name: 'h7', install: true },
      operator,
      (p) => {
        if (p.step === 'install' && p.state !== 'running') steps.push(`${p.state}: ${p.message}`);
      },
    );
    expect(steps).toEqual([
      'done: everything needed is installed; granted ports 80/443 to unprivileged users (net.ipv4.ip_unprivileged_port_start=80, persisted in /etc/sysctl.d/60-podploy-ports.conf)',
    ]);
    expect(portStart()).toBe(80);
    expect(readFileSync(SYSCTL_FILE, 'utf8')).toBe('net.ipv4.ip_unprivileged_port_start=80\n');
  }, 120_000);
});

describe('HTTPS for apps on the node', () => {
  it('tls set refuses bad input with a clear error and changes nothing', async () => {
    const before = await hx!.cli(['tls', 'show', '--json']);
    expect(JSON.parse(before.stdout)).toMatchObject({ acmeDirectory: 'https://acme-v02.api.letsencrypt.org/directory', acmeEmail: '', acmeCaRoot: null, httpRedirect: 'public' });
    const plain = await hx!.cli(['tls', 'set', '--acme-directory', 'http://127.0.0.1:14000/dir']);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/^error: TLS settings refused, nothing changed: the ACME directory must be an https:\/\/ URL/m);
    expect(plain.stderr).toMatch(/^hint: /m);
    const missing = await hx!.cli(['tls', 'set', '--acme-ca-root', join(dir, 'nope.pem')]);
    expect(missing.stderr).toContain('error: --acme-ca-root');
    const notCa = await hx!.cli(['tls', 'set', '--acme-ca-root', join(dir, 'pebble.pem')]);
    expect(notCa.stderr).toContain('is not a CA certificate');
    const mode = await hx!.cli(['tls', 'set', '--http-redirect', 'sometimes']);
    expect(mode.stderr).toContain('error: --http-redirect sometimes: must be one of public, all, off');
    expect((await hx!.cli(['tls', 'show', '--json'])).stdout).toBe(before.stdout);
  });

  it('tls set points the node at the ACME server; the node takes the settings', async () => {
    const r = await hx!.cli(['tls', 'set', '--acme-directory', `https://127.0.0.1:${ACME_PORT}/dir`, '--email', 'ops@example.com', '--acme-ca-root', acmeCaRootFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('✓ h7: TLS settings stored: ACME https://127.0.0.1:14000/dir (ops@example.com), extra root, redirect public');
    const shown = JSON.parse((await hx!.cli(['tls', 'show', '--json'])).stdout);
    expect(shown).toMatchObject({ acmeDirectory: `https://127.0.0.1:${ACME_PORT}/dir`, acmeEmail: 'ops@example.com', httpRedirect: 'public' });
    expect(shown.acmeCaRoot.subject).toContain('PodPloy test ACME server CA');
  });

  it('serves the public-looking name with an ACME certificate and the test name with the internal CA, both verified', async () => {
    onHost(`printf '%s\\n' 'FROM localhost/podploy-test-app:latest' 'ENV APP_VERSION=v1' | podman build -q -t localhost/testapp:v1 -f - "$(mktemp -d)" >/dev/null`);
    await hx!.cp.router.invoke('apps.create', { spec: { name: 'site', node: 'h7', source: { kind: 'image', image: 'localhost/testapp:v1' }, domains: [PUBLIC, TEST_NAME], health: { path: '/health' } } }, operator);
    const d = await hx!.cli(['deploy', 'site']);
    expect(d.code, d.stderr).toBe(0);

    const pub = await waitFor('an ACME certificate for app.example.com', () => httpsGet(PUBLIC, '/version', pebbleRoot), 60_000, 500);
    expect(pub.status).toBe(200);
    expect(pub.body).toBe('v1');
    expect(pub.cert.issuer.CN).toMatch(/^Pebble Intermediate CA/);
    expect(pub.cert.subjectaltname).toBe(`DNS:${PUBLIC}`);

    caddyRoot = caddyLocalRoot();
    const internal = await waitFor('an internal certificate for web.test', () => httpsGet(TEST_NAME, '/version', caddyRoot), 30_000, 500);
    expect(internal).toMatchObject({ status: 200, body: 'v1' });
    expect(internal.cert.issuer.CN).toMatch(/^Caddy Local Authority/);
    // Each root verifies only its own names.
    await expect(httpsGet(TEST_NAME, '/version', pebbleRoot)).rejects.toThrow(/certificate/);
    await expect(httpsGet(PUBLIC, '/version', caddyRoot)).rejects.toThrow(/certificate/);
  }, 180_000);

  it('redirects plain HTTP to HTTPS for the public name; with --http-redirect all, for the test name too', async () => {
    const pub = await httpGetWithLocation(PUBLIC, '/version?x=1');
    expect(pub).toEqual({ status: 308, location: `https://${PUBLIC}/version?x=1` });
    expect(await httpGet(h7.address, 80, TEST_NAME, '/version')).toEqual({ status: 200, body: 'v1' });

    const r = await hx!.cli(['tls', 'set', '--http-redirect', 'all']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('✓ h7: TLS settings applied, Caddy reloaded');
    expect(await httpGetWithLocation(TEST_NAME, '/')).toEqual({ status: 308, location: `https://${TEST_NAME}/` });
    expect(await httpsGet(TEST_NAME, '/version', caddyRoot)).toMatchObject({ status: 200, body: 'v1' });
  });

  it('after Caddy is killed, routes and the same certificates come back', async () => {
    const before = { pub: (await httpsGet(PUBLIC, '/version', pebbleRoot)).cert.serialNumber, internal: (await httpsGet(TEST_NAME, '/version', caddyRoot)).cert.serialNumber };
    const pid = Number(readFileSync(`${RUN_DIR}/caddy.pid`, 'utf8').trim());
    sh(`kill -9 ${pid}`);
    await waitFor('a new Caddy', () => {
      const now = Number(readFileSync(`${RUN_DIR}/caddy.pid`, 'utf8').trim());
      return now !== pid && now > 0;
    }, 30_000);
    const pub = await waitFor('HTTPS for app.example.com again', () => httpsGet(PUBLIC, '/version', pebbleRoot), 30_000, 300);
    const internal = await waitFor('HTTPS for web.test again', () => httpsGet(TEST_NAME, '/version', caddyRoot), 30_000, 300);
    expect([pub.status, pub.body, internal.status, internal.body]).toEqual([200, 'v1', 200, 'v1']);
    expect({ pub: pub.cert.serialNumber, internal: internal.cert.serialNumber }).toEqual(before);
    expect(await httpGetWithLocation(PUBLIC, '/')).toEqual({ status: 308, location: `https://${PUBLIC}/` });
  }, 90_000);
});

// A plain-HTTP request to h7's port 80, to see a redirect itself.
function httpGetWithLocation(name: string, path: string): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: h7.address, port: 80, path, headers: { host: name }, agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(res.headers.location ? { location: res.headers.location } : {}) }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}
