import type { AppSummary, AuditEntry, DeployProgress, NodeSummary, OnboardProgress, ReleaseSummary } from '../api/contract';

const MARK: Record<OnboardProgress['state'], string> = { running: '…', done: '✓', unchanged: '=', skipped: '-', failed: '✗' };

export function formatProgress(p: OnboardProgress): string {
  const ms = p.durationMs !== undefined ? ` (${p.durationMs} ms)` : '';
  const hint = p.state === 'failed' && p.detail && typeof p.detail.hint === 'string' ? `\n      hint: ${p.detail.hint}` : '';
  return `[${p.index}/${p.total}] ${MARK[p.state]} ${p.step.padEnd(13)} ${p.message}${ms}${hint}`;
}

export function formatDeployProgress(p: DeployProgress): string {
  const ms = p.durationMs !== undefined ? ` (${p.durationMs} ms)` : '';
  return `v${p.release} [${p.step}/${p.total}] ${MARK[p.state]} ${p.name.padEnd(7)} ${p.message}${ms}`;
}

export function bytes(n: number): string {
  if (!n) return '0 B';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const i = Math.min(units.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
  return `${(n / 1024 ** i).toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function ago(at: number | null, now = Date.now()): string {
  if (!at) return 'never';
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

export function formatNodeList(nodes: NodeSummary[]): string {
  if (!nodes.length) return 'No nodes yet. Add one with: podploy node add ssh://USER@HOST --key ~/.ssh/id_ed25519\n';
  return table([
    ['NAME', 'STATUS', 'ADDRESS', 'OS', 'ARCH', 'PODMAN', 'CPU', 'MEM', 'CONTAINERS', 'LAST SEEN'],
    ...nodes.map((n) => [
      n.name,
      n.status,
      n.address,
      n.facts?.osPrettyName ?? '-',
      n.facts?.arch ?? '-',
      n.facts?.podmanVersion || '-',
      n.usage ? `${n.usage.cpuPercent.toFixed(0)}%` : '-',
      n.usage ? `${bytes(n.usage.memUsedBytes)}/${bytes(n.usage.memTotalBytes)}` : '-',
      n.usage ? `${n.usage.containersRunning}/${n.usage.containerCount}` : '-',
      ago(n.lastSeenAt),
    ]),
  ]);
}

export function formatNodeInfo(n: NodeSummary): string {
  const f = n.facts;
  const u = n.usage;
  const lines: [string, string][] = [
    ['name', n.name],
    ['status', `${n.status} (last seen ${ago(n.lastSeenAt)})`],
    ['address', n.address],
    ['host key', n.hostKeyFingerprint],
    ['agent', `${n.agentVersion} as ${n.serviceMode === 'systemd' ? 'a systemd user unit' : 'a supervised process'}`],
    ['labels', Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(' ') || '-'],
  ];
  if (f) {
    lines.push(
      ['os', `${f.osPrettyName} (${f.osId} ${f.osVersion})`],
      ['arch', f.arch],
      ['kernel', f.kernel],
      ['cgroups', `v${f.cgroupsVersion}`],
      ['podman', f.podmanVersion || 'missing'],
      ['rootless', f.rootlessReady ? 'ready (subuid/subgid)' : 'not ready'],
      ['systemd', f.systemd ? 'yes' : 'no'],
      ['node.js', f.nodeVersion],
      ['cpus', String(f.cpuCount)],
      ['memory', bytes(f.memTotalBytes)],
      ['disk', `${bytes(f.diskFreeBytes)} free of ${bytes(f.diskTotalBytes)}`],
    );
  }
  if (u) {
    lines.push(
      ['cpu', `${u.cpuPercent.toFixed(1)}% (load ${u.load1.toFixed(2)})`],
      ['mem used', `${bytes(u.memUsedBytes)} of ${bytes(u.memTotalBytes)}`],
      ['disk used', `${bytes(u.diskUsedBytes)} of ${bytes(u.diskTotalBytes)}`],
      ['containers', `${u.containersRunning} running of ${u.containerCount}`],
      ['agent rss', bytes(u.agentRssBytes)],
    );
  }
  const w = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}

export function formatAudit(rows: AuditEntry[]): string {
  if (!rows.length) return 'No actions recorded yet.\n';
  return table([
    ['WHEN', 'WHO', 'SOURCE', 'ACTION', 'TARGET', 'RESULT', 'DETAIL'],
    ...rows.map((r) => [new Date(r.at).toISOString().replace('T', ' ').slice(0, 19), r.actor, r.source, r.action, r.target, r.result, r.detail.slice(0, 80)]),
  ]);
}

export function formatAppList(apps: AppSummary[]): string {
  if (!apps.length) return 'No apps yet. Declare one with: podploy app create NAME --node NODE --image REF\n';
  return table([
    ['NAME', 'NODE', 'SOURCE', 'PORT', 'DOMAINS', 'RELEASE'],
    ...apps.map((a) => [
      a.name,
      a.node,
      a.spec.source.kind === 'image' ? a.spec.source.image : `${a.spec.source.url}#${a.spec.source.ref}`,
      String(a.spec.port),
      a.spec.domains.join(',') || '-',
      a.currentRelease ? `v${a.currentRelease.number} ${a.currentRelease.status}` : 'never deployed',
    ]),
  ]);
}

export function formatAppInfo(a: AppSummary): string {
  const s = a.spec;
  const h = s.health;
  const lines: [string, string][] = [
    ['name', a.name],
    ['node', a.node],
    ['source', s.source.kind === 'image' ? `image ${s.source.image}` : `git ${s.source.url} ref ${s.source.ref} (${s.source.containerfile})`],
    ['command', s.command.join(' ') || '(image default)'],
    ['port', String(s.port)],
    ['domains', s.domains.join(', ') || '-'],
    ['env', Object.keys(s.env).join(', ') || '-'],
    ['volumes', s.volumes.map((v) => `${v.name}:${v.path}`).join(', ') || '-'],
    ['health', `${h.kind === 'http' ? `HTTP GET ${h.path}` : 'TCP connect'} every ${h.intervalMs} ms, timeout ${h.timeoutMs} ms, healthy after ${h.healthyThreshold}, unhealthy after ${h.unhealthyThreshold}, start period ${h.startPeriodMs} ms, deadline ${h.deadlineMs} ms`],
    ['limits', `${s.cpus ? `${s.cpus} CPU` : 'no CPU limit'}, ${s.memoryMb ? `${s.memoryMb} MiB` : 'no memory limit'}`],
    ['liveness', s.liveness ? formatLiveness(s.liveness) : 'none (a dead container is still restarted)'],
    ['restart', formatRestart(s.restart)],
    ['stop grace', `${s.stopGraceMs} ms`],
    ['drain', `${s.drainMs} ms`],
    ['release', a.currentRelease ? `v${a.currentRelease.number} ${a.currentRelease.status}` : 'never deployed'],
  ];
  const w = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}

export function formatLiveness(l: NonNullable<AppSummary['spec']['liveness']>): string {
  const what = l.kind === 'http' ? `HTTP GET ${l.path} (status ${l.statusMin}-${l.statusMax})` : l.kind === 'tcp' ? 'TCP connect' : `exec ${l.command.join(' ')}`;
  return `${what} every ${l.intervalMs} ms, timeout ${l.timeoutMs} ms, restart after ${l.failureThreshold} failures in a row, initial delay ${l.initialDelayMs} ms`;
}

export function formatRestart(r: AppSummary['spec']['restart']): string {
  return `first at once, then ${r.initialBackoffMs} ms doubling up to ${r.maxBackoffMs} ms (+-${+(r.jitter * 100).toFixed(1)}% jitter), reset after ${r.resetAfterMs} ms running; crash loop at ${r.crashLoopRestarts} restarts within ${r.crashLoopWindowMs} ms`;
}

export function formatReleases(rows: ReleaseSummary[]): string {
  if (!rows.length) return 'No releases yet.\n';
  return table([
    ['RELEASE', 'STATUS', 'IMAGE', 'DIGEST', 'BY', 'WHEN', 'REASON'],
    ...rows.map((r) => [`v${r.number}`, r.status, r.imageRef, r.imageDigest?.slice(0, 19) ?? '-', r.createdBy, new Date(r.createdAt).toISOString().slice(0, 19), r.reason ?? '']),
  ]);
}
