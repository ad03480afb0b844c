import { ApiError } from '../../api/contract';

// What the detect step learns about a server before anything is installed.
export interface HostFacts {
  osName: string;
  osId: string;
  osLike: string;
  osVersion: string;
  osPrettyName: string;
  arch: string;
  kernel: string;
  cgroupsVersion: number;
  podmanVersion: string;
  user: string;
  uid: number;
  home: string;
  subuid: boolean;
  subgid: boolean;
  systemd: boolean;
  nodeVersion: string;
  nodePath: string;
  caddyVersion: string;
  natsVersion: string;
  // Empty when git is missing (apps built from a git repository need it).
  gitVersion: string;
  diskFreeBytes: number;
  diskTotalBytes: number;
  memTotalBytes: number;
  memFreeBytes: number;
  cpuCount: number;
  sudo: boolean;
  packageManager: string;
  xdgRuntimeDir: string;
}

// One POSIX sh script, one round trip; prints key=value lines.
export const DETECT_SCRIPT = [
  // Daemons such as nats-server install to sbin, which an ordinary user's PATH may lack.
  'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"',
  'echo "os_name=$(uname -s)"',
  'if [ -r /etc/os-release ]; then . /etc/os-release; echo "os_id=${ID:-}"; echo "os_like=${ID_LIKE:-}"; echo "os_version=${VERSION_ID:-}"; echo "os_pretty=${PRETTY_NAME:-}"; fi',
  'echo "arch=$(uname -m)"',
  'echo "kernel=$(uname -r)"',
  'if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo cgroups=2; elif [ -d /sys/fs/cgroup ]; then echo cgroups=1; else echo cgroups=0; fi',
  'if command -v podman >/dev/null 2>&1; then echo "podman=$(podman --version 2>/dev/null | awk \'{print $NF}\')"; else echo podman=; fi',
  'u=$(id -un); echo "user=$u"; echo "uid=$(id -u)"; echo "home=$HOME"',
  'if grep -q "^$u:" /etc/subuid 2>/dev/null; then echo subuid=1; else echo subuid=0; fi',
  'if grep -q "^$u:" /etc/subgid 2>/dev/null; then echo subgid=1; else echo subgid=0; fi',
  'if [ -d /run/systemd/system ]; then echo systemd=1; else echo systemd=0; fi',
  'if command -v node >/dev/null 2>&1; then echo "node=$(node --version)"; echo "node_path=$(command -v node)"; else echo node=; fi',
  'if command -v caddy >/dev/null 2>&1; then echo "caddy=$(caddy version 2>/dev/null | awk \'{print $1}\')"; else echo caddy=; fi',
  'if command -v nats-server >/dev/null 2>&1; then echo "nats=$(nats-server --version 2>/dev/null | awk \'{print $NF}\')"; else echo nats=; fi',
  'if command -v git >/dev/null 2>&1; then echo "git=$(git --version 2>/dev/null | awk \'{print $3}\')"; else echo git=; fi',
  'df -Pk "$HOME" 2>/dev/null | awk \'NR==2{print "disk_total_kb="$2; print "disk_free_kb="$4}\'',
  'awk \'/^MemTotal:/{print "mem_total_kb="$2} /^MemAvailable:/{print "mem_free_kb="$2}\' /proc/meminfo 2>/dev/null',
  'echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 0)"',
  'if command -v sudo >/dev/null 2>&1; then echo sudo=1; else echo sudo=0; fi',
  'for p in apt-get dnf yum zypper apk; do if command -v $p >/dev/null 2>&1; then echo "pkg=$p"; break; fi; done',
  'echo "xdg_runtime_dir=${XDG_RUNTIME_DIR:-}"',
].join('\n');

export function parseDetectOutput(output: string): HostFacts {
  const kv = new Map<string, string>();
  for (const line of output.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim().replace(/^"|"$/g, ''));
  }
  const s = (k: string) => kv.get(k) ?? '';
  const n = (k: string) => Number(kv.get(k) ?? 0) || 0;
  const facts: HostFacts = {
    osName: s('os_name'),
    osId: s('os_id'),
    osLike: s('os_like'),
    osVersion: s('os_version'),
    osPrettyName: s('os_pretty'),
    arch: s('arch'),
    kernel: s('kernel'),
    cgroupsVersion: n('cgroups'),
    podmanVersion: s('podman'),
    user: s('user'),
    uid: n('uid'),
    home: s('home'),
    subuid: s('subuid') === '1',
    subgid: s('subgid') === '1',
    systemd: s('systemd') === '1',
    nodeVersion: s('node'),
    nodePath: s('node_path'),
    caddyVersion: s('caddy').replace(/^v/, ''),
    natsVersion: s('nats').replace(/^v/, ''),
    gitVersion: s('git'),
    diskFreeBytes: n('disk_free_kb') * 1024,
    diskTotalBytes: n('disk_total_kb') * 1024,
    memTotalBytes: n('mem_total_kb') * 1024,
    memFreeBytes: n('mem_free_kb') * 1024,
    cpuCount: n('cpus'),
    sudo: s('sudo') === '1',
    packageManager: s('pkg'),
    xdgRuntimeDir: s('xdg_runtime_dir'),
  };
  if (!facts.osName) {
    throw new ApiError('unsupported_os', 'the server did not answer the detect script (is its login shell a POSIX shell?)');
  }
  if (facts.osName !== 'Linux') {
    throw new ApiError('unsupported_os', `the server runs ${facts.osName}, not Linux; PodPloy nodes must be Linux servers`, 'onboard a Linux server (Debian, Ubuntu, Fedora, RHEL and derivatives are supported)');
  }
  if (!facts.home || !facts.user) throw new ApiError('unsupported_os', 'could not determine the SSH user or its home directory on the server');
  if (facts.uid === 0) {
    throw new ApiError('invalid_input', 'refusing to onboard as root: the agent and Podman run rootless', 'create an ordinary user with sudo rights and connect as that user');
  }
  return facts;
}

export const SUPPORTED_ARCHES = ['x86_64', 'aarch64', 'armv7l'];
export const MIN_NODE_MAJOR = 18;
export const MIN_PODMAN_MAJOR = 4;
