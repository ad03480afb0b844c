import { describe, expect, it } from 'vitest';
import { buildCaddyConfig, type AppRoute } from './caddy-config';

const web: AppRoute = {
  app: 'web',
  domains: ['web.example.test', 'www.example.test'],
  slots: { a: { ip: '127.0.1.1', port: 28080 }, b: { ip: '127.0.1.2', port: 28080 } },
  gatePort: 28081,
};
const api: AppRoute = { ...web, app: 'api', domains: ['api.example.test'], slots: { a: { ip: '127.0.1.3', port: 28080 }, b: { ip: '127.0.1.4', port: 28080 } } };

describe('buildCaddyConfig', () => {
  it('builds one server, a route per app (sorted by name) over both slots, then a 404 for unknown hosts', () => {
    const config = buildCaddyConfig({ adminListen: '127.0.0.1:2019', listen: [':80'], routes: [web, api] });
    const proxy = (a: string, b: string) => ({
      handler: 'reverse_proxy',
      upstreams: [{ dial: `${a}:28080` }, { dial: `${b}:28080` }],
      load_balancing: { selection_policy: { policy: 'first' }, try_duration: '5000ms', try_interval: '50ms' },
      health_checks: { active: { uri: '/_podploy/slot', port: 28081, interval: '250ms', timeout: '1000ms', expect_status: 200 } },
    });
    expect(JSON.stringify(config)).toBe(
      JSON.stringify({
        admin: { listen: '127.0.0.1:2019' },
        logging: { logs: { default: { exclude: ['http.handlers.reverse_proxy.health_checker.active'] } } },
        apps: {
          http: {
            servers: {
              podploy: {
                listen: [':80'],
                routes: [
                  { '@id': 'podploy-app-api', match: [{ host: ['api.example.test'] }], handle: [proxy('127.0.1.3', '127.0.1.4')], terminal: true },
                  { '@id': 'podploy-app-web', match: [{ host: ['web.example.test', 'www.example.test'] }], handle: [proxy('127.0.1.1', '127.0.1.2')], terminal: true },
                  { handle: [{ handler: 'static_response', status_code: 404, body: 'No app on this PodPloy node serves this host.\n' }] },
                ],
                automatic_https: { disable: true },
              },
            },
          },
        },
      }),
    );
  });

  it('is the same for the same apps in any order', () => {
    const one = buildCaddyConfig({ adminListen: 'a:1', listen: [':80'], routes: [web, api] });
    expect(buildCaddyConfig({ adminListen: 'a:1', listen: [':80'], routes: [api, web] })).toEqual(one);
  });

  it('takes TLS through its hook and then leaves automatic HTTPS on', () => {
    const config = buildCaddyConfig({
      adminListen: 'a:1',
      listen: [':443'],
      routes: [web],
      tls: { connectionPolicies: [{}], tlsApp: { automation: { policies: [{ issuers: [{ module: 'internal' }] }] } } },
    }) as any;
    expect(config.apps.tls).toEqual({ automation: { policies: [{ issuers: [{ module: 'internal' }] }] } });
    expect(config.apps.http.servers.podploy.tls_connection_policies).toEqual([{}]);
    expect(config.apps.http.servers.podploy.automatic_https).toBeUndefined();
  });

  it('refuses input Caddy would misroute', () => {
    const build = (routes: AppRoute[], adminListen = 'a:1') => () => buildCaddyConfig({ adminListen, listen: [':80'], routes });
    expect(build([web], '')).toThrow('admin listen address is missing');
    expect(build([web, { ...api, domains: ['WWW.example.test'] }])).toThrow('domain "WWW.example.test" is claimed by both "web" and "api"');
    expect(build([web, web])).toThrow('app "web" appears twice');
    expect(build([{ ...web, app: 'Web!' }])).toThrow('app name "Web!"');
    expect(build([{ ...web, domains: [] }])).toThrow('app "web" has no domain');
    expect(build([{ ...web, slots: { a: web.slots.a, b: web.slots.a } }])).toThrow('same address for slots A and B');
    expect(build([{ ...web, gatePort: 0 }])).toThrow('gate port 0 is not a TCP port');
  });
});
