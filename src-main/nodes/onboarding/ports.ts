// Ports 80 and 443 for the node's Caddy, which runs as the agent's (unprivileged) user. Binding
// them takes net.ipv4.ip_unprivileged_port_start <= 80, or cap_net_bind_service on the caddy
// binary (some distro packages set it). Commands are built here and run by onboarding.
import { q } from './shell';

export const HTTP_PORT = 80;
export const UNPRIVILEGED_PORT_SYSCTL = 'net.ipv4.ip_unprivileged_port_start';
export const PORTS_SYSCTL_FILE = '/etc/sysctl.d/60-podploy-ports.conf';

export interface PortCheck {
  // null when the kernel does not say (then only the capability can be trusted).
  unprivilegedPortStart: number | null;
  caddyPath: string;
  caddyHasBindCap: boolean;
}

// Prints start=N, caddy=PATH and caps=... (getcap's line for the caddy binary, or nothing).
export const PORT_CHECK_SCRIPT = [
  'echo "start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null)"',
  'c=$(command -v caddy 2>/dev/null || true); echo "caddy=$c"',
  'g=$(command -v getcap 2>/dev/null || ls /usr/sbin/getcap /sbin/getcap 2>/dev/null | head -n 1); if [ -n "$c" ] && [ -n "$g" ]; then echo "caps=$("$g" "$c" 2>/dev/null)"; else echo caps=; fi',
].join('; ');

export function parsePortCheck(output: string): PortCheck {
  const v = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(output)?.[1]?.trim() ?? '';
  const start = v('start');
  return {
    unprivilegedPortStart: /^\d+$/.test(start) ? Number(start) : null,
    caddyPath: v('caddy'),
    caddyHasBindCap: /cap_net_bind_service/.test(v('caps')),
  };
}

// How Caddy can bind 80/443 as things are, or null when it cannot.
export function portsBindableBy(c: PortCheck): string | null {
  if (c.unprivilegedPortStart !== null && c.unprivilegedPortStart <= HTTP_PORT) return `${UNPRIVILEGED_PORT_SYSCTL}=${c.unprivilegedPortStart}`;
  if (c.caddyHasBindCap) return `cap_net_bind_service on ${c.caddyPath}`;
  return null;
}

// Lowers the unprivileged port start now and at every boot, through sudo without a prompt.
export function grantPortsCommands(): string[] {
  const line = `${UNPRIVILEGED_PORT_SYSCTL}=${HTTP_PORT}`;
  return [`sudo -n sysctl -w ${line}`, `echo ${q(line)} | sudo -n tee ${PORTS_SYSCTL_FILE} >/dev/null`];
}
