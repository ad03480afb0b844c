import { ApiError } from '../../api/contract';
import { MIN_NODE_MAJOR, MIN_PODMAN_MAJOR, SUPPORTED_ARCHES, type HostFacts } from './detect';
import { q } from './shell';

export type RequirementId = 'podman' | 'nodejs' | 'caddy' | 'nats-server' | 'git' | 'subids';

export interface Missing {
  id: RequirementId;
  why: string;
}

export const SUBID_RANGE = '100000-165535';
export const NATS_SYSTEM_UNIT = 'nats-server.service';

// Packages per package manager. Caddy and nats-server are what the apps and events layers run
// on; git clones the repositories of apps built on the node.
const PACKAGES: Record<string, Record<Exclude<RequirementId, 'subids'>, string[]>> = {
  'apt-get': { podman: ['podman', 'uidmap', 'slirp4netns', 'fuse-overlayfs'], nodejs: ['nodejs'], caddy: ['caddy'], 'nats-server': ['nats-server'], git: ['git'] },
  dnf: { podman: ['podman'], nodejs: ['nodejs'], caddy: ['caddy'], 'nats-server': ['nats-server'], git: ['git'] },
  yum: { podman: ['podman'], nodejs: ['nodejs'], caddy: ['caddy'], 'nats-server': ['nats-server'], git: ['git'] },
  zypper: { podman: ['podman'], nodejs: ['nodejs'], caddy: ['caddy'], 'nats-server': ['nats-server'], git: ['git'] },
  apk: { podman: ['podman'], nodejs: ['nodejs'], caddy: ['caddy'], 'nats-server': ['nats-server'], git: ['git'] },
};

const major = (v: string) => Number(/^v?(\d+)/.exec(v)?.[1] ?? 0);

export function checkArch(f: HostFacts): void {
  if (!SUPPORTED_ARCHES.includes(f.arch)) {
    throw new ApiError('unsupported_os', `unsupported architecture ${f.arch}`, `PodPloy nodes run on ${SUPPORTED_ARCHES.join(', ')}`);
  }
}

export function missingRequirements(f: HostFacts): Missing[] {
  const missing: Missing[] = [];
  if (!f.podmanVersion) missing.push({ id: 'podman', why: 'Podman is not installed' });
  else if (major(f.podmanVersion) < MIN_PODMAN_MAJOR) missing.push({ id: 'podman', why: `Podman ${f.podmanVersion} is older than ${MIN_PODMAN_MAJOR}.0` });
  if (!f.nodeVersion) missing.push({ id: 'nodejs', why: 'Node.js is not installed (the agent runs on it)' });
  else if (major(f.nodeVersion) < MIN_NODE_MAJOR) missing.push({ id: 'nodejs', why: `Node.js ${f.nodeVersion} is older than ${MIN_NODE_MAJOR}` });
  if (!f.caddyVersion) missing.push({ id: 'caddy', why: 'Caddy is not installed (ingress for apps)' });
  if (!f.natsVersion) missing.push({ id: 'nats-server', why: 'nats-server is not installed (the event stream)' });
  if (!f.gitVersion) missing.push({ id: 'git', why: 'git is not installed (apps built from a git repository)' });
  if (!f.subuid || !f.subgid) missing.push({ id: 'subids', why: `user ${f.user} has no subuid/subgid range, so rootless Podman cannot run` });
  return missing;
}

// The exact commands that would install what is missing, run through sudo without a prompt.
export function installCommands(f: HostFacts, missing: Missing[]): string[] {
  const commands: string[] = [];
  const pkgIds = missing.filter((m) => m.id !== 'subids').map((m) => m.id as Exclude<RequirementId, 'subids'>);
  if (pkgIds.length) {
    const table = PACKAGES[f.packageManager];
    if (!table) {
      throw new ApiError('unsupported_os', `no supported package manager found on ${f.osPrettyName || f.osId || 'the server'}`, `install ${pkgIds.join(', ')} by hand and onboard again`);
    }
    const pkgs = pkgIds.flatMap((id) => table[id]);
    switch (f.packageManager) {
      case 'apt-get':
        commands.push('sudo -n apt-get update -q', `sudo -n apt-get install -y -q ${pkgs.join(' ')}`);
        break;
      case 'apk':
        commands.push(`sudo -n apk add ${pkgs.join(' ')}`);
        break;
      case 'zypper':
        commands.push(`sudo -n zypper --non-interactive install ${pkgs.join(' ')}`);
        break;
      default:
        commands.push(`sudo -n ${f.packageManager} install -y ${pkgs.join(' ')}`);
    }
  }
  // Debian's package also enables and starts a system-wide nats-server without authentication on
  // loopback port 4222 (RPM packages enable nothing); PodPloy runs its own per user (the agent's),
  // so the package's is switched off.
  if (f.packageManager === 'apt-get' && f.systemd && pkgIds.includes('nats-server')) commands.push(`sudo -n systemctl disable --now ${NATS_SYSTEM_UNIT} 2>/dev/null || true`);
  if (missing.some((m) => m.id === 'subids')) {
    commands.push(`sudo -n usermod --add-subuids ${SUBID_RANGE} --add-subgids ${SUBID_RANGE} ${q(f.user)}`);
  }
  return commands;
}
