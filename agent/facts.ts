// What the node is: read once per handshake from the OS, /proc, /etc and Podman's REST API.
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import type { Facts } from '../proto/gen/podploy/agent/v1/agent';
import { diskSpace } from './host/disk';
import { hasSubIdRange, parseMeminfo, parseOsRelease } from './host/linux-files';
import type { PodmanClient } from './podman/client';
import { podmanVersion } from './podman/system';

export const HOST_FILES = {
  osRelease: ['/etc/os-release', '/usr/lib/os-release'],
  meminfo: '/proc/meminfo',
  subuid: '/etc/subuid',
  subgid: '/etc/subgid',
  cgroup2Controllers: '/sys/fs/cgroup/cgroup.controllers',
  cgroupRoot: '/sys/fs/cgroup',
  systemdRuntime: '/run/systemd/system',
} as const;

const NODE_ARCH_TO_UNAME: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armv7l', ppc64: 'ppc64le', s390x: 's390x' };

export interface FactsSources {
  podman: PodmanClient;
  // Where disk space is measured: the agent user's home.
  home?: string;
}

export async function collectFacts({ podman, home = os.homedir() }: FactsSources): Promise<Facts> {
  const user = os.userInfo();
  const [osRelease, mem, disk, podmanVer, subuid, subgid] = await Promise.all([
    readFirst(HOST_FILES.osRelease).then(parseOsRelease),
    readText(HOST_FILES.meminfo).then(parseMeminfo),
    diskSpace(home),
    podmanVersion(podman).catch(() => ''),
    readText(HOST_FILES.subuid),
    readText(HOST_FILES.subgid),
  ]);
  return {
    hostname: os.hostname(),
    osId: osRelease.id,
    osVersion: osRelease.versionId,
    osPrettyName: osRelease.prettyName,
    arch: unameMachine(),
    kernel: os.release(),
    cgroupsVersion: cgroupsVersion(),
    podmanVersion: podmanVer,
    rootlessReady: hasSubIdRange(subuid, user.username, user.uid) && hasSubIdRange(subgid, user.username, user.uid),
    systemd: existsSync(HOST_FILES.systemdRuntime),
    nodeVersion: process.version,
    diskTotalBytes: disk.totalBytes,
    diskFreeBytes: disk.freeBytes,
    memTotalBytes: mem.totalBytes || os.totalmem(),
    memFreeBytes: mem.availableBytes || os.freemem(),
    cpuCount: os.cpus().length,
    user: user.username,
  };
}

// 2 for the unified hierarchy, 1 for legacy or hybrid, 0 when there is no cgroup mount.
export function cgroupsVersion(): number {
  if (existsSync(HOST_FILES.cgroup2Controllers)) return 2;
  return existsSync(HOST_FILES.cgroupRoot) ? 1 : 0;
}

function unameMachine(): string {
  const machine = (os as { machine?: () => string }).machine;
  return machine ? machine() : (NODE_ARCH_TO_UNAME[process.arch] ?? process.arch);
}

export async function readText(path: string): Promise<string> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch {
    return '';
  }
}

async function readFirst(paths: readonly string[]): Promise<string> {
  for (const p of paths) {
    const text = await readText(p);
    if (text) return text;
  }
  return '';
}
