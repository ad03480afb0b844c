// The test hosts test/hosts/setup.sh brings up (network namespaces with their own sshd and
// unprivileged users with rootless Podman), as the end-to-end suites and benchmarks see them.
import { existsSync, readFileSync } from 'node:fs';

export interface TestHost {
  /** h1 ... h10 */
  name: string;
  /** the network namespace the host's sshd (and everything started over SSH) lives in */
  netns: string;
  address: string;
  port: number;
  users: {
    /** key auth (hosts.clientKey), rootless Podman ready, `sudo -n apt-get` allowed */
    deploy: string;
    /** h1 only: password auth, rootless Podman ready */
    password?: { user: string; password: string };
    /** h2 only: key auth, but Podman is not on its PATH (it "is not installed") */
    bare?: string;
  };
}

export interface TestHosts {
  /** private key authorized for every key-auth user */
  clientKey: string;
  /** a private key no user authorizes */
  wrongKey: string;
  hosts: TestHost[];
}

export const DEFAULT_HOSTS_FILE = '/etc/podploy-test/hosts.json';
/** setup.sh writes DEFAULT_HOSTS_FILE and, when PODPLOY_TEST_HOSTS is set, a copy there. */
export const HOSTS_FILE = process.env.PODPLOY_TEST_HOSTS || DEFAULT_HOSTS_FILE;
/** the one local image every Podman user of the test hosts has (no registry is reachable) */
export const TEST_IMAGE = 'localhost/busybox:latest';

export function loadTestHosts(file: string = HOSTS_FILE): TestHosts {
  if (!existsSync(file)) {
    throw new Error(`the test hosts are not set up (${file} is missing): run \`sudo test/hosts/setup.sh\` (the end-to-end suites do it themselves when they run as root)`);
  }
  let parsed: TestHosts;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as TestHosts;
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${String(err)}): run \`sudo test/hosts/teardown.sh && sudo test/hosts/setup.sh\``);
  }
  if (!parsed.clientKey || !Array.isArray(parsed.hosts) || parsed.hosts.length === 0) {
    throw new Error(`${file} does not describe any test host: run \`sudo test/hosts/setup.sh\``);
  }
  return parsed;
}

/** The host called NAME (h1 ... h10); throws when there is none. */
export function testHost(hosts: TestHosts, name: string): TestHost {
  const host = hosts.hosts.find((h) => h.name === name);
  if (!host) throw new Error(`no test host ${name} in the test hosts file (has ${hosts.hosts.map((h) => h.name).join(', ')})`);
  return host;
}
