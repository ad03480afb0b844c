// One test host made ready for app suites: the user reset, the test app image built on it, a
// real control plane (harness) with the host onboarded as a node named after it. Each app suite
// takes its own host (h1, h4-h7), so suites never share a node's ports or Podman.
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTestHosts, testHost, type TestHost } from '../hosts/hosts';
import { operator, ROOT, sh, sshAs, sshAsAsync, startHarness, type Harness } from './harness';

export interface AppHost {
  hx: Harness;
  host: TestHost;
  user: string;
  clientKey: string;
  // Runs a shell command on the host as its user, over SSH.
  onHost(cmd: string): string;
  // The same without blocking the event loop (while this process measures traffic).
  onHostAsync(cmd: string): Promise<string>;
  // Builds localhost/testapp:VERSION on the host: /version answers VERSION; sick fails /health.
  buildVersion(version: string, opts?: { sick?: boolean }): void;
  // A plain HTTP GET through the node's Caddy on port 80, with the Host header DOMAIN.
  get(domain: string, path: string): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

export async function prepareAppHost(name: string): Promise<AppHost> {
  const hosts = loadTestHosts();
  const host = testHost(hosts, name);
  const user = host.users.deploy;
  const reset = () => sh(`${join(ROOT, 'test', 'hosts', 'reset-user.sh')} ${user}`);
  const onHost = (cmd: string) => sshAs(user, host, hosts.clientKey, cmd);
  // The base image is built through runuser; the reset after it ends the Podman pause process
  // that started in this namespace, so the node's Podman starts from its own host.
  reset();
  sh(`${join(ROOT, 'test', 'images', 'build-test-app.sh')} ${user} >/dev/null`);
  reset();
  const hx = await startHarness();
  await hx.cp.router.invoke(
    'nodes.add',
    { address: `ssh://${user}@${host.address}:${host.port}`, auth: { kind: 'key', privateKey: readFileSync(hosts.clientKey, 'utf8') }, acceptNewHostKey: true, name },
    operator,
  );
  return {
    hx,
    host,
    user,
    clientKey: hosts.clientKey,
    onHost,
    onHostAsync: (cmd) => sshAsAsync(user, host, hosts.clientKey, cmd),
    buildVersion(version, opts = {}) {
      const containerfile = [`FROM localhost/podploy-test-app:latest`, `ENV APP_VERSION=${version}`, ...(opts.sick ? ['RUN ["/bin/busybox", "touch", "/tmp/unhealthy"]'] : [])].join('\n');
      onHost(`printf '%s\\n' '${containerfile}' | podman build -q -t localhost/testapp:${version} -f - "$(mktemp -d)" >/dev/null`);
    },
    get: (domain, path) => httpGet(host.address, 80, domain, path),
    async close() {
      await hx.close();
      reset();
    },
  };
}

export function httpGet(address: string, port: number, hostHeader: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port, path, headers: { host: hostHeader }, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}
