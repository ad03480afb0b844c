// The node's whole Caddy configuration as JSON, built from the apps that run on it. Pure: no I/O.
// It depends only on apps, domains and listen addresses, so it stays byte-for-byte the same
// while a deploy runs (a Caddy config change resets requests in flight; see ENVIRONMENT.md).
import { usesInternalCa, type HttpRedirectMode } from '../../proto/ingress-tls';
import { assertPort, dialAddress, SLOT_NAMES, type AppSlots } from './slots';

// Active health checks ask each slot's gate (not the app) whether the slot is in service.
export const HEALTH_CHECK_URI = '/_podploy/slot';
// Short, because a deploy's switch waits for two checks per gate; but every live slot is checked
// this often, so it sets the agent's CPU at rest: 20 apps at 50 ms cost ~1.7% of a core, at
// 100 ms ~1.3% (bench/agent-supervising), while a deploy's switch takes ~45 ms longer.
export const HEALTH_CHECK_INTERVAL_MS = 100;
export const HEALTH_CHECK_TIMEOUT_MS = 1_000;
export const HEALTH_CHECK_EXPECT_STATUS = 200;
// Caddy 2.6 marks an upstream unhealthy after one failed check and healthy after one passing
// check, and has no setting for it (2.7 added `fails`/`passes`; 2.6 rejects them as unknown
// fields). Recorded here because the swap timing relies on it; not emitted.
export const HEALTH_CHECK_FAILS = 1;
export const HEALTH_CHECK_PASSES = 1;
// While no slot is healthy (between checks, or while the agent restarts), Caddy keeps trying.
export const RETRY_TRY_DURATION_MS = 5_000;
export const RETRY_TRY_INTERVAL_MS = 50;
// `first`: all traffic goes to the first healthy slot in the list, so which version serves is
// deterministic at every moment of a swap.
export const UPSTREAM_SELECTION_POLICY = 'first';
export const INGRESS_SERVER_NAME = 'podploy';
export const ROUTE_ID_PREFIX = 'podploy-app-';
// A host no app claims gets this instead of Caddy's empty 200.
export const UNKNOWN_HOST_STATUS = 404;
export const UNKNOWN_HOST_BODY = 'No app on this PodPloy node serves this host.\n';
// Idle slots fail their health check every interval by design; their log lines are noise.
export const HEALTH_CHECKER_LOGGER = 'http.handlers.reverse_proxy.health_checker.active';

const APP_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface AppRoute {
  app: string;
  domains: string[];
  slots: AppSlots;
  gatePort: number;
}

// HTTPS beside HTTP: one server listens on both; Caddy serves TLS on every listener that is not
// its http_port. Certificates: ACME for public names, Caddy's internal CA for the rest
// (proto/ingress-tls.ts). Without it the listeners are plain HTTP and automatic HTTPS is off, so
// Caddy never tries to reach an ACME server.
export interface IngressTls {
  // Where HTTPS is served, e.g. ':443'.
  httpsListen: string;
  acmeDirectory: string;
  acmeEmail: string;
  // A PEM file of extra roots for the ACME server's own certificate; absent: system roots.
  acmeCaRootFile?: string;
  httpRedirect: HttpRedirectMode;
}

// Plain-HTTP requests for names that must use HTTPS get this, keeping method and body.
export const HTTPS_REDIRECT_STATUS = 308;
export const HTTPS_DEFAULT_PORT = 443;
// Caddy would otherwise try to add its local root to the node's system trust store (root only).
export const INSTALL_LOCAL_ROOT_IN_TRUST_STORE = false;

export interface IngressConfigInput {
  // Caddy's admin listen address. It must be in every loaded config: a config without `admin`
  // moves the admin API to Caddy's default (localhost:2019).
  adminListen: string;
  // The HTTP server's listen addresses, e.g. [':80'] on a node, ['127.0.0.1:PORT'] in tests.
  listen: string[];
  routes: AppRoute[];
  tls?: IngressTls;
}

export type CaddyConfig = Record<string, unknown>;

export function goDuration(ms: number): string {
  return `${ms}ms`;
}

export function routeId(app: string): string {
  return `${ROUTE_ID_PREFIX}${app}`;
}

export function buildCaddyConfig(input: IngressConfigInput): CaddyConfig {
  validate(input);
  const routes = [...input.routes].sort((x, y) => (x.app < y.app ? -1 : x.app > y.app ? 1 : 0));
  const server: Record<string, unknown> = {
    listen: [...input.listen],
    routes: [...routes.map(appRoute), unknownHostRoute()],
  };
  const http: Record<string, unknown> = { servers: { [INGRESS_SERVER_NAME]: server } };
  const config: CaddyConfig = {
    admin: { listen: input.adminListen },
    logging: { logs: { default: { exclude: [HEALTH_CHECKER_LOGGER] } } },
    apps: { http },
  };
  if (!input.tls) {
    server.automatic_https = { disable: true };
    return config;
  }
  const tls = input.tls;
  const httpsPort = listenPort(tls.httpsListen);
  // TLS goes on every listener except http_port's, so both ports are stated, not defaulted.
  http.http_port = listenPort(input.listen[0]);
  http.https_port = httpsPort;
  server.listen = [...input.listen, tls.httpsListen];
  server.tls_connection_policies = [{}];
  // The redirect is PodPloy's own route (per name, by the redirect mode), not Caddy's.
  server.automatic_https = { disable_redirects: true };
  const domains = routes.flatMap((r) => r.domains.map((d) => d.toLowerCase()));
  const redirected = domains.filter((d) => tls.httpRedirect === 'all' || (tls.httpRedirect === 'public' && !usesInternalCa(d)));
  if (redirected.length > 0) (server.routes as unknown[]).unshift(redirectRoute(redirected, httpsPort));
  const internal = domains.filter((d) => usesInternalCa(d));
  const acme: Record<string, unknown> = { module: 'acme', ca: tls.acmeDirectory };
  if (tls.acmeEmail) acme.email = tls.acmeEmail;
  if (tls.acmeCaRootFile) acme.trusted_roots_pem_files = [tls.acmeCaRootFile];
  const policies: Record<string, unknown>[] = [];
  if (internal.length > 0) policies.push({ subjects: internal, issuers: [{ module: 'internal' }] });
  // No subjects: every other name (the public ones) is obtained by ACME.
  policies.push({ issuers: [acme] });
  const apps = config.apps as Record<string, unknown>;
  apps.tls = { automation: { policies } };
  apps.pki = { certificate_authorities: { local: { install_trust: INSTALL_LOCAL_ROOT_IN_TRUST_STORE } } };
  return config;
}

// "host:port", ":port" or "[v6]:port" -> port.
export function listenPort(listen: string): number {
  const port = Number(/:(\d+)$/.exec(listen)?.[1]);
  assertPort(port, `listen address "${listen}":`);
  return port;
}

function redirectRoute(hosts: string[], httpsPort: number): Record<string, unknown> {
  const port = httpsPort === HTTPS_DEFAULT_PORT ? '' : `:${httpsPort}`;
  return {
    match: [{ protocol: 'http', host: hosts }],
    handle: [{ handler: 'static_response', status_code: HTTPS_REDIRECT_STATUS, headers: { Location: [`https://{http.request.host}${port}{http.request.uri}`] } }],
    terminal: true,
  };
}

function appRoute(route: AppRoute): Record<string, unknown> {
  return {
    '@id': routeId(route.app),
    match: [{ host: [...route.domains] }],
    handle: [
      {
        handler: 'reverse_proxy',
        upstreams: SLOT_NAMES.map((s) => ({ dial: dialAddress(route.slots[s]) })),
        load_balancing: {
          selection_policy: { policy: UPSTREAM_SELECTION_POLICY },
          try_duration: goDuration(RETRY_TRY_DURATION_MS),
          try_interval: goDuration(RETRY_TRY_INTERVAL_MS),
        },
        health_checks: {
          active: {
            uri: HEALTH_CHECK_URI,
            port: route.gatePort,
            interval: goDuration(HEALTH_CHECK_INTERVAL_MS),
            timeout: goDuration(HEALTH_CHECK_TIMEOUT_MS),
            expect_status: HEALTH_CHECK_EXPECT_STATUS,
          },
        },
      },
    ],
    terminal: true,
  };
}

function unknownHostRoute(): Record<string, unknown> {
  return { handle: [{ handler: 'static_response', status_code: UNKNOWN_HOST_STATUS, body: UNKNOWN_HOST_BODY }] };
}

function validate(input: IngressConfigInput): void {
  if (!input.adminListen) throw new Error('Caddy config: the admin listen address is missing (without it Caddy moves its admin API to localhost:2019)');
  if (input.listen.length === 0) throw new Error('Caddy config: no listen address for the HTTP server');
  if (input.tls && input.listen.includes(input.tls.httpsListen)) throw new Error(`Caddy config: ${input.tls.httpsListen} cannot serve both HTTP and HTTPS`);
  const apps = new Set<string>();
  const owners = new Map<string, string>();
  for (const r of input.routes) {
    if (!APP_NAME.test(r.app)) throw new Error(`Caddy config: app name "${r.app}" must be lowercase letters, digits and dashes (at most 63)`);
    if (apps.has(r.app)) throw new Error(`Caddy config: app "${r.app}" appears twice`);
    apps.add(r.app);
    if (r.domains.length === 0) throw new Error(`Caddy config: app "${r.app}" has no domain to route`);
    for (const d of r.domains) {
      const domain = d.toLowerCase();
      const owner = owners.get(domain);
      if (owner !== undefined) throw new Error(`Caddy config: domain "${d}" is claimed by both "${owner}" and "${r.app}"`);
      owners.set(domain, r.app);
    }
    assertPort(r.gatePort, `app "${r.app}" gate port`);
    if (dialAddress(r.slots.a) === dialAddress(r.slots.b)) throw new Error(`Caddy config: app "${r.app}" has the same address for slots A and B`);
  }
}
