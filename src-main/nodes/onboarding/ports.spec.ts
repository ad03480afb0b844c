import { describe, expect, it } from 'vitest';
import { grantPortsCommands, parsePortCheck, portsBindableBy, PORT_CHECK_SCRIPT } from './ports';

describe('ports 80/443 for Caddy', () => {
  it('reads the unprivileged port start and the caddy binary\'s capability', () => {
    expect(parsePortCheck('start=1024\ncaddy=/usr/bin/caddy\ncaps=\n')).toEqual({ unprivilegedPortStart: 1024, caddyPath: '/usr/bin/caddy', caddyHasBindCap: false });
    expect(parsePortCheck('start=\ncaddy=/usr/bin/caddy\ncaps=/usr/bin/caddy cap_net_bind_service=ep\n')).toEqual({
      unprivilegedPortStart: null,
      caddyPath: '/usr/bin/caddy',
      caddyHasBindCap: true,
    });
  });

  it('is satisfied by a port start at or below 80, or by the capability; not by 1024 alone', () => {
    expect(portsBindableBy({ unprivilegedPortStart: 80, caddyPath: '/usr/bin/caddy', caddyHasBindCap: false })).toBe('net.ipv4.ip_unprivileged_port_start=80');
    expect(portsBindableBy({ unprivilegedPortStart: 0, caddyPath: '', caddyHasBindCap: false })).toBe('net.ipv4.ip_unprivileged_port_start=0');
    expect(portsBindableBy({ unprivilegedPortStart: 1024, caddyPath: '/usr/bin/caddy', caddyHasBindCap: true })).toBe('cap_net_bind_service on /usr/bin/caddy');
    expect(portsBindableBy({ unprivilegedPortStart: 1024, caddyPath: '/usr/bin/caddy', caddyHasBindCap: false })).toBeNull();
    expect(portsBindableBy({ unprivilegedPortStart: 81, caddyPath: '', caddyHasBindCap: false })).toBeNull();
  });

  it('grants with exactly the commands the sudoers rule names, now and persisted', () => {
    expect(grantPortsCommands()).toEqual([
      'sudo -n sysctl -w net.ipv4.ip_unprivileged_port_start=80',
      "echo net.ipv4.ip_unprivileged_port_start=80 | sudo -n tee /etc/sysctl.d/60-podploy-ports.conf >/dev/null",
    ]);
    expect(PORT_CHECK_SCRIPT).toContain('/proc/sys/net/ipv4/ip_unprivileged_port_start');
  });
});
