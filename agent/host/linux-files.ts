// Parsers for the Linux files the agent reads facts and usage from. Pure functions.

export interface OsRelease {
  id: string;
  versionId: string;
  prettyName: string;
}

export function parseOsRelease(text: string): OsRelease {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) values.set(m[1], m[2].replace(/^(["'])(.*)\1$/, '$2'));
  }
  return { id: values.get('ID') ?? '', versionId: values.get('VERSION_ID') ?? '', prettyName: values.get('PRETTY_NAME') ?? '' };
}

export interface MemInfo {
  totalBytes: number;
  availableBytes: number;
}

const KIB = 1024;

// MemAvailable is the kernel's estimate of memory a new workload can use without swapping.
export function parseMeminfo(text: string): MemInfo {
  const kib = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) * KIB : undefined;
  };
  const totalBytes = kib('MemTotal') ?? 0;
  const availableBytes = kib('MemAvailable') ?? (kib('MemFree') ?? 0) + (kib('Buffers') ?? 0) + (kib('Cached') ?? 0);
  return { totalBytes, availableBytes };
}

export interface CpuTimes {
  idle: number;
  total: number;
}

// The aggregate "cpu" line of /proc/stat: user nice system idle iowait irq softirq steal ...
export function parseProcStat(text: string): CpuTimes {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (!line) return { idle: 0, total: 0 };
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { idle, total: fields.reduce((a, b) => a + b, 0) };
}

export function cpuPercentBetween(a: CpuTimes, b: CpuTimes): number {
  const total = b.total - a.total;
  if (total <= 0) return 0;
  const busy = total - (b.idle - a.idle);
  return Math.min(100, Math.max(0, (busy / total) * 100));
}

// /etc/subuid and /etc/subgid: "name-or-uid:start:count" per line.
export function hasSubIdRange(text: string, user: string, uid: number): boolean {
  return text.split('\n').some((line) => {
    const [owner, start, count] = line.trim().split(':');
    return (owner === user || owner === String(uid)) && Number(start) >= 0 && Number(count) > 0;
  });
}
