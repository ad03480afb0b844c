import { ApiError } from '../api/contract';

export interface SshAddress {
  user: string;
  host: string;
  port: number;
}

export const DEFAULT_SSH_PORT = 22;
const USER_RE = /^[a-z_][a-z0-9_.-]{0,31}$/i;
const HOSTNAME_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

// ssh://USER@HOST[:PORT], HOST a name, an IPv4 address or a bracketed IPv6 address.
export function parseSshAddress(input: string): SshAddress {
  const bad = (why: string) =>
    new ApiError('invalid_input', `malformed address '${input}': ${why}`, 'use ssh://USER@HOST[:PORT], e.g. ssh://deploy@203.0.113.7:22');
  const m = /^ssh:\/\/([^@/]+)@(\[[0-9a-f:.]+\]|[^:/\[\]]+)(?::(\d+))?\/?$/i.exec(input.trim());
  if (!m) throw bad(input.startsWith('ssh://') ? 'expected USER@HOST[:PORT] after ssh://' : "it must start with 'ssh://'");
  const [, user, rawHost, rawPort] = m;
  if (!USER_RE.test(user)) throw bad(`'${user}' is not a valid user name`);
  let host = rawHost;
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (!host.includes(':')) throw bad(`'${rawHost}' is not an IPv6 address`);
  } else if (/^[\d.]+$/.test(host)) {
    if (!IPV4_RE.test(host)) throw bad(`'${host}' is not a valid IPv4 address`);
  } else if (!HOSTNAME_RE.test(host)) {
    throw bad(`'${host}' is not a valid host name`);
  }
  const port = rawPort === undefined ? DEFAULT_SSH_PORT : Number(rawPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`port ${rawPort} is out of range 1-65535`);
  return { user, host, port };
}

export function formatSshAddress(a: SshAddress): string {
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `ssh://${a.user}@${host}${a.port === DEFAULT_SSH_PORT ? '' : `:${a.port}`}`;
}
