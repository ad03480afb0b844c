// Small, pure formatting helpers for the tables (unit-tested in format.spec.ts).

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—';
  let v = Math.max(0, bytes);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v < 10 ? v.toFixed(1) : v.toFixed(0)} ${UNITS[i]}`;
}

// "3.1 / 8.0 GiB" when both share a unit, else "512 MiB / 8.0 GiB": dense table cells.
export function formatBytesPair(used: number, total: number): string {
  const u = formatBytes(used).split(' ');
  const t = formatBytes(total).split(' ');
  return u[1] === t[1] ? `${u[0]} / ${t[0]} ${t[1]}` : `${u.join(' ')} / ${t.join(' ')}`;
}

export function formatPercent(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return `${value < 10 ? value.toFixed(1) : value.toFixed(0)}%`;
}

export function ratio(used: number, total: number): number {
  return total > 0 ? Math.min(100, Math.max(0, (used / total) * 100)) : 0;
}

// "just now", "12s ago", "5m ago", "3h ago", "2d ago"; future times read "in 5s".
export function relativeTime(at: number | null | undefined, now: number): string {
  if (at === null || at === undefined) return 'never';
  const diff = Math.round((now - at) / 1000);
  const abs = Math.abs(diff);
  if (abs < 3) return 'just now';
  const [n, unit] =
    abs < 60 ? [abs, 's'] : abs < 3600 ? [Math.floor(abs / 60), 'm'] : abs < 86_400 ? [Math.floor(abs / 3600), 'h'] : [Math.floor(abs / 86_400), 'd'];
  return diff >= 0 ? `${n}${unit} ago` : `in ${n}${unit}`;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m ${s}s`;
}

export function formatTimestamp(at: number): string {
  const d = new Date(at);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// ssh://user@host:port -> its parts, or null when it does not parse. Accepts user@host too.
export function parseSshAddress(address: string): { user: string; host: string; port: number } | null {
  const m = /^(?:ssh:\/\/)?([^@\s/]+)@(\[[^\]]+\]|[^:\s/]+)(?::(\d{1,5}))?\/?$/.exec(address.trim());
  if (!m) return null;
  const port = m[3] ? Number(m[3]) : 22;
  if (port < 1 || port > 65535) return null;
  return { user: m[1], host: m[2].replace(/^\[|\]$/g, ''), port };
}

// A node name derived from the host: lowercase, [a-z0-9-], at most 63 characters.
export function suggestNodeName(host: string): string {
  const base = /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(':') ? `node-${host}` : host.split('.')[0];
  return base
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/g, '');
}

// Where a long token (a host-key fingerprint, an SSH address) may wrap without splitting a
// meaningful part: after "SHA256:" or "ssh://", before "@", before a ":port". Rendered as
// <wbr> between the parts (Breakable.svelte), so that a narrow column wraps there first.
export function softBreaks(text: string): string[] {
  return text.split(/(?<=^[A-Za-z0-9]+:\/\/)|(?<=^[A-Za-z0-9]+:)(?!\/\/)|(?=@)|(?=:\d+$)/).filter((p) => p !== '');
}
