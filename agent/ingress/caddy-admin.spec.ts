import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaddyAdmin, CaddyAdminError, loadIfChanged } from './caddy-admin';
import { buildCaddyConfig } from './caddy-config';
import { freePort, startTestCaddy, type TestCaddy } from './caddy-test-process';
import { appSlots } from './slots';

// A real Caddy with its admin API on a unix socket (what a node should use: a loopback TCP port
// is open to every local user).
const sockDir = mkdtempSync(join(tmpdir(), 'podploy-caddy-sock-'));
let caddy: TestCaddy;
let silent: Server;
let silentPort: number;

beforeAll(async () => {
  caddy = await startTestCaddy({ socketPath: join(sockDir, 'admin.sock') });
  silent = createServer(() => undefined); // never answers
  silentPort = await freePort();
  await new Promise<void>((r) => silent.listen(silentPort, '127.0.0.1', r));
});
afterAll(async () => {
  await caddy?.stop();
  if (silent) {
    silent.closeAllConnections();
    await new Promise((r) => silent.close(r));
  }
  rmSync(sockDir, { recursive: true, force: true });
});

describe('CaddyAdmin (real Caddy, unix socket)', () => {
  it('loads a config, reads it back, and loads again only when it differs', async () => {
    const routes = [{ app: 'web', domains: ['web.test'], slots: appSlots(125, await freePort()), gatePort: await freePort() }];
    const config = buildCaddyConfig({ adminListen: caddy.adminListen, listen: [`127.0.0.1:${await freePort()}`], routes });
    await caddy.admin.load(config);
    expect(await caddy.admin.getConfig()).toEqual(config);
    expect(await caddy.admin.getConfig('apps/http/servers/podploy/routes/0/@id')).toBe('podploy-app-web');
    const text = await caddy.admin.getConfigText();
    expect(await loadIfChanged(caddy.admin, config)).toBe(false);
    expect(await caddy.admin.getConfigText()).toBe(text);
    const upstreams = await caddy.admin.upstreams();
    expect(upstreams.map((u) => u.address).sort()).toEqual([`127.0.1.251:${routes[0].slots.a.port}`, `127.0.1.252:${routes[0].slots.a.port}`]);
    expect(upstreams[0].num_requests).toBe(0);

    const changed = buildCaddyConfig({ adminListen: caddy.adminListen, listen: [`127.0.0.1:${await freePort()}`], routes });
    expect(await loadIfChanged(caddy.admin, changed)).toBe(true);
    expect(await caddy.admin.getConfig()).toEqual(changed);
  });

  it('patches, puts and deletes a path', async () => {
    await caddy.admin.put('apps/http/servers/podploy/routes/0/match/0/host/0', 'www.test');
    expect(await caddy.admin.getConfig('apps/http/servers/podploy/routes/0/match/0/host')).toEqual(['www.test', 'web.test']);
    await caddy.admin.patch('apps/http/servers/podploy/routes/0/match/0/host', ['other.test']);
    expect(await caddy.admin.getConfig('apps/http/servers/podploy/routes/0/match/0/host')).toEqual(['other.test']);
    await caddy.admin.delete('apps/http/servers/podploy/routes/0/match');
    expect(await caddy.admin.getConfig('apps/http/servers/podploy/routes/0/match')).toBeNull();
  });

  it('says what failed and on which endpoint', async () => {
    const err = (await caddy.admin.patch('apps/nope/thing', 1).catch((e: unknown) => e)) as CaddyAdminError;
    expect(err).toBeInstanceOf(CaddyAdminError);
    expect(err.message).toBe(`Caddy admin API at unix:${sockDir}/admin.sock: PATCH /config/apps/nope/thing answered HTTP 500: invalid traversal path at: config/apps/nope/thing`);
    expect(err.statusCode).toBe(500);
    expect(err.path).toBe('/config/apps/nope/thing');
    await expect(caddy.admin.load({ apps: { http: { servers: { x: { listen: 5 } } } } })).rejects.toThrow(/POST \/load answered HTTP 400: .*listen/);

    const nobody = new CaddyAdmin({ host: '127.0.0.1', port: await freePort() });
    await expect(nobody.getConfig()).rejects.toThrow(/^Caddy admin API at http:\/\/127\.0\.0\.1:\d+: GET \/config\/ failed: .*ECONNREFUSED.*is Caddy running/);
    await expect(new CaddyAdmin({ host: '127.0.0.1', port: silentPort }, 100).upstreams()).rejects.toThrow(
      `Caddy admin API at http://127.0.0.1:${silentPort}: GET /reverse_proxy/upstreams failed: timed out after 100 ms`,
    );
  });
});
