// The ingress runtime with a real Caddy (Debian's, as the agent's child, admin API on a unix
// socket): stable app indexes, gates restored from the live slots, Caddy's config changing only
// for new apps or domains and never while a deploy runs, routes re-applied after a restart.
// Gate and app ports are free ports, so this never meets the agent's defaults on the same IPs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveRelease } from '../deploy/app-state';
import { freePort } from './caddy-test-process';
import { resolveCaddyBinary } from './caddy-process';
import { FIRST_APP_INDEX, INGRESS_APPS_FILE, IngressBusyError, IngressRuntime, type IngressRuntimeOptions } from './runtime';
import { appSlots } from './slots';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
const runtimes: IngressRuntime[] = [];
let appPort: number;
let gatePort: number;
let httpPort: number;

beforeAll(async () => {
  appPort = await freePort();
  gatePort = await freePort();
  httpPort = await freePort();
});

afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function runtime(dir: string, over: Partial<IngressRuntimeOptions> = {}, live: Record<string, Partial<LiveRelease>> = {}, deploying: string[] = []): IngressRuntime {
  const r = new IngressRuntime({
    stateDir: join(dir, 'state'),
    runDir: join(dir, 'run'),
    logDir: join(dir, 'log'),
    httpListen: `127.0.0.1:${httpPort}`,
    caddyBinary: '/usr/bin/caddy',
    live: (app) => live[app] as LiveRelease | undefined,
    deploying: () => deploying,
    log,
    appPort,
    gatePort,
    ...over,
  });
  runtimes.push(r);
  return r;
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pp-ingress-rt-'));
  dirs.push(d);
  return d;
}

describe('the ingress runtime', () => {
  it('starts nothing without apps; ensureApp starts Caddy with the route, indexes are stable and persisted', async () => {
    const dir = tempDir();
    const deploying: string[] = [];
    const rt = runtime(dir, {}, {}, deploying);
    await rt.start();
    expect(rt.caddy.running).toBe(false);
    expect(rt.lookup('web')).toBeUndefined();

    const web = await rt.ensureApp('web', ['Web.Test', 'web.test']);
    expect(web.slots).toEqual(appSlots(FIRST_APP_INDEX, appPort));
    expect([web.gates.a.current, web.gates.b.current]).toEqual(['closed', 'closed']);
    expect(rt.caddy.isReady).toBe(true);
    const api = await rt.ensureApp('api', ['api.test']);
    expect(api.slots).toEqual(appSlots(FIRST_APP_INDEX + 1, appPort));
    const routes = await rt.caddy.admin.getConfig<{ '@id'?: string; match?: { host: string[] }[] }[]>('apps/http/servers/podploy/routes');
    expect(routes.filter((r) => r['@id']).map((r) => [r['@id'], r.match?.[0].host])).toEqual([
      ['podploy-app-api', ['api.test']],
      ['podploy-app-web', ['web.test']],
    ]);
    expect(JSON.parse(readFileSync(join(dir, 'state', INGRESS_APPS_FILE), 'utf8'))).toEqual({
      web: { index: FIRST_APP_INDEX, domains: ['web.test'] },
      api: { index: FIRST_APP_INDEX + 1, domains: ['api.test'] },
    });

    // Same app and domains: nothing changes, also while a deploy runs.
    const before = await rt.caddy.admin.getConfigText();
    deploying.push('api');
    expect((await rt.ensureApp('web', ['web.test'])).slots).toEqual(web.slots);
    // A change while a deploy runs is refused, with nothing changed.
    await expect(rt.ensureApp('web', ['web.test', 'www.test'])).rejects.toThrow(IngressBusyError);
    await expect(rt.ensureApp('new', ['new.test'])).rejects.toThrow(/a deploy of api is running/);
    expect(await rt.caddy.admin.getConfigText()).toBe(before);
    deploying.length = 0;
    // A domain another app holds is refused, with nothing changed.
    await expect(rt.ensureApp('other', ['web.test'])).rejects.toThrow('domain "web.test" is claimed by both');
    expect(rt.lookup('other')).toBeUndefined();
    expect(await rt.caddy.admin.getConfigText()).toBe(before);
    await rt.stop();
    expect(rt.caddy.running).toBe(false);
  });

  it('restores gates (the live slot open) and Caddy with every route after a restart', async () => {
    const dir = tempDir();
    const first = runtime(dir);
    await first.start();
    await first.ensureApp('web', ['web.test']);
    await first.stop();

    const second = runtime(dir, {}, { web: { slot: 'b' } });
    await second.start();
    const web = second.lookup('web')!;
    expect(web.slots).toEqual(appSlots(FIRST_APP_INDEX, appPort));
    expect([web.gates.a.current, web.gates.b.current]).toEqual(['closed', 'open']);
    await second.caddy.waitReady();
    const routes = await second.caddy.admin.getConfig<{ '@id'?: string }[]>('apps/http/servers/podploy/routes');
    expect(routes.map((r) => r['@id']).filter(Boolean)).toEqual(['podploy-app-web']);
    // Caddy asks the open gate: it confirms within the gate deadline.
    await web.gates.b.confirm();
    await second.stop();
  });

  it('says what is wrong when Caddy cannot run', async () => {
    const rt = runtime(tempDir(), { caddyBinary: '/nonexistent/caddy', caddyReadyDeadlineMs: 1_000 });
    await rt.start();
    const started = Date.now();
    const err = await rt.ensureApp('web', ['web.test']).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/Caddy \(\/nonexistent\/caddy\) is not up after \d+ ms: no caddy executable/);
    expect(Date.now() - started).toBeLessThan(5_000);
    await rt.stop();
  });

  it('finds caddy in PATH, then at /usr/bin/caddy', () => {
    expect(resolveCaddyBinary('caddy', '/usr/bin')).toBe('/usr/bin/caddy');
    expect(resolveCaddyBinary('caddy', '/nonexistent')).toBe('/usr/bin/caddy');
    expect(resolveCaddyBinary('/nonexistent/caddy')).toBeUndefined();
  });
});
