// The ingress runtime with HTTPS, against a real Caddy (Debian's): a test name served over TLS by
// Caddy's internal CA (verified against the root from the admin API), TLS settings stored and
// applied through the admin API, refused while a deploy runs or when invalid (nothing changed),
// and restored after a restart. Ports are free loopback ports, so nothing meets a node's 80/443.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_INGRESS_TLS } from '../../proto/ingress-tls';
import { freePort } from './caddy-test-process';
import { httpsListenOf, IngressBusyError, IngressRuntime } from './runtime';
import { appSlots } from './slots';
import { INGRESS_TLS_FILE } from './tls-settings-store';

const log = pino({ level: 'silent' });
let dir: string;
let appPort: number;
let gatePort: number;
let httpPort: number;
let httpsPort: number;
let app: Server;
const runtimes: IngressRuntime[] = [];
const deploying: string[] = [];

function runtime(): IngressRuntime {
  const r = new IngressRuntime({
    stateDir: join(dir, 'state'),
    runDir: join(dir, 'run'),
    logDir: join(dir, 'log'),
    httpListen: `127.0.0.1:${httpPort}`,
    httpsListen: `127.0.0.1:${httpsPort}`,
    caddyBinary: '/usr/bin/caddy',
    live: () => undefined,
    deploying: () => deploying,
    log,
    appPort,
    gatePort,
  });
  runtimes.push(r);
  return r;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pp-ingress-tls-'));
  [appPort, gatePort, httpPort, httpsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  // The "app" behind slot A of the first app index.
  app = createServer((_req, res) => res.end('hello over tls'));
  await new Promise<void>((r) => app.listen(appPort, appSlots(1, appPort).a.ip, r));
});

afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.stop()));
  await new Promise((r) => app.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function httpsGet(name: string, ca: string): Promise<{ status: number; body: string; issuer: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: httpsPort, servername: name, headers: { host: name }, path: '/', ca, agent: false, timeout: 5_000 }, (res) => {
      const issuer = String((res.socket as import('node:tls').TLSSocket).getPeerCertificate().issuer.CN);
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, issuer }));
    });
    req.on('error', reject);
    req.end();
  });
}

function httpGet(name: string, path: string): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: httpPort, path, headers: { host: name }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function eventually<T>(fn: () => Promise<T>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('the ingress runtime with HTTPS', () => {
  it('serves a test name over TLS from the internal CA; plain HTTP still answers (redirect: public names only)', async () => {
    const rt = runtime();
    await rt.start();
    const web = await rt.ensureApp('web', ['web.test']);
    web.gates.a.open();
    await web.gates.a.confirm();
    const root = (JSON.parse(await rt.caddy.admin.request('GET', '/pki/ca/local')) as { root_certificate: string }).root_certificate;
    const res = await eventually(() => httpsGet('web.test', root));
    expect(res).toMatchObject({ status: 200, body: 'hello over tls' });
    expect(res.issuer).toMatch(/^Caddy Local Authority/);
    expect((await httpGet('web.test', '/')).status).toBe(200);
  });

  it('applies new settings through the admin API, refuses them while a deploy runs or when invalid, and keeps them across a restart', async () => {
    const rt = runtimes[0];
    const all = { ...DEFAULT_INGRESS_TLS, httpRedirect: 'all' as const };
    expect(await rt.setTlsSettings(all)).toEqual({ changed: true, loaded: true });
    expect(await httpGet('web.test', '/a?b=1')).toEqual({ status: 308, location: `https://web.test:${httpsPort}/a?b=1` });
    expect(await rt.setTlsSettings(all)).toEqual({ changed: false, loaded: false });

    const before = await rt.caddy.admin.getConfigText();
    const stored = readFileSync(join(dir, 'state', INGRESS_TLS_FILE), 'utf8');
    deploying.push('web');
    await expect(rt.setTlsSettings({ ...all, httpRedirect: 'off' })).rejects.toThrow(IngressBusyError);
    deploying.length = 0;
    await expect(rt.setTlsSettings({ ...all, acmeDirectory: 'http://acme.test/dir' })).rejects.toThrow('must be an https:// URL');
    expect(await rt.caddy.admin.getConfigText()).toBe(before);
    expect(readFileSync(join(dir, 'state', INGRESS_TLS_FILE), 'utf8')).toBe(stored);

    await rt.stop();
    const again = runtime();
    expect(again.tls.get().httpRedirect).toBe('all');
    await again.start();
    await again.caddy.waitReady();
    again.lookup('web')!.gates.a.open();
    expect(await eventually(() => httpGet('web.test', '/'))).toEqual({ status: 308, location: `https://web.test:${httpsPort}/` });
  });

  it('serves HTTPS on :443 on a node, and only where the config says when it moves HTTP', () => {
    expect(httpsListenOf({})).toBe(':443');
    expect(httpsListenOf({ ingressHttpListen: '127.0.0.1:8080' })).toBeUndefined();
    expect(httpsListenOf({ ingressHttpListen: '127.0.0.1:8080', ingressHttpsListen: '127.0.0.1:8443' })).toBe('127.0.0.1:8443');
    expect(httpsListenOf({ ingressHttpsListen: '' })).toBeUndefined();
  });
});
