import { describe, expect, it } from 'vitest';
import { buildCaddyConfig, type AppRoute, type IngressTls } from './caddy-config';

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
      health_checks: { active: { uri: '/_podploy/slot', port: 28081, interval: '100ms', timeout: '1000ms', expect_status: 200 } },
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

  const tls: IngressTls = { httpsListen: ':443', acmeDirectory: 'https://acme.test/dir', acmeEmail: 'ops@example.com', acmeCaRootFile: '/state/acme-ca-root.pem', httpRedirect: 'public' };
  const mixed: AppRoute = { ...web, domains: ['shop.example.com', 'web.test', 'localhost', '10.0.0.7', 'nas.home.arpa'] };

  it('with TLS: one server on :80 and :443, the internal CA for test names and IPs, ACME (with its extra root) for the rest', () => {
    const config = buildCaddyConfig({ adminListen: 'a:1', listen: [':80'], routes: [mixed], tls }) as any;
    expect(config.apps.http.http_port).toBe(80);
    expect(config.apps.http.https_port).toBe(443);
    const server = config.apps.http.servers.podploy;
    expect(server.listen).toEqual([':80', ':443']);
    expect(server.tls_connection_policies).toEqual([{}]);
    expect(server.automatic_https).toEqual({ disable_redirects: true });
    expect(config.apps.tls).toEqual({
      automation: {
        policies: [
          { subjects: ['web.test', 'localhost', '10.0.0.7', 'nas.home.arpa'], issuers: [{ module: 'internal' }] },
          { issuers: [{ module: 'acme', ca: 'https://acme.test/dir', email: 'ops@example.com', trusted_roots_pem_files: ['/state/acme-ca-root.pem'] }] },
        ],
      },
    });
    expect(config.apps.pki).toEqual({ certificate_authorities: { local: { install_trust: false } } });
    // The app's route (one reverse proxy, the same slots) is unchanged by TLS.
    const plain = buildCaddyConfig({ adminListen: 'a:1', listen: [':80'], routes: [mixed] }) as any;
    expect(server.routes.find((r: any) => r['@id'] === 'podploy-app-web')).toEqual(plain.apps.http.servers.podploy.routes[0]);
  });

  it('redirects plain HTTP to HTTPS (308, same host and URI) for public names by default, for all or none on request', () => {
    const redirect = (mode: IngressTls['httpRedirect'], httpsListen = ':443') =>
      (buildCaddyConfig({ adminListen: 'a:1', listen: [':80'], routes: [mixed], tls: { ...tls, httpRedirect: mode, httpsListen } }) as any).apps.http.servers.podploy.routes[0];
    expect(redirect('public')).toEqual({
      match: [{ protocol: 'http', host: ['shop.example.com'] }],
      handle: [{ handler: 'static_response', status_code: 308, headers: { Location: ['https://{http.request.host}{http.request.uri}'] } }],
      terminal: true,
    });
    expect(redirect('all').match[0].host).toEqual(mixed.domains);
    expect(redirect('off')['@id']).toBe('podploy-app-web');
    expect(redirect('all', '127.0.0.1:8443').handle[0].headers.Location).toEqual(['https://{http.request.host}:8443{http.request.uri}']);
  });

  it('with TLS and only internal names, or without email and extra root, states just what is set', () => {
    const config = buildCaddyConfig({ adminListen: 'a:1', listen: ['127.0.0.1:8080'], routes: [web], tls: { ...tls, acmeEmail: '', acmeCaRootFile: undefined } }) as any;
    expect(config.apps.http.http_port).toBe(8080);
    expect(config.apps.tls.automation.policies).toEqual([
      { subjects: ['web.example.test', 'www.example.test'], issuers: [{ module: 'internal' }] },
      { issuers: [{ module: 'acme', ca: 'https://acme.test/dir' }] },
    ]);
    expect(config.apps.http.servers.podploy.routes).toHaveLength(2);
    expect(() => buildCaddyConfig({ adminListen: 'a:1', listen: [':443'], routes: [web], tls })).toThrow(':443 cannot serve both HTTP and HTTPS');
    expect(() => buildCaddyConfig({ adminListen: 'a:1', listen: [':80'], routes: [web], tls: { ...tls, httpsListen: 'nowhere' } })).toThrow('not a TCP port');
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
