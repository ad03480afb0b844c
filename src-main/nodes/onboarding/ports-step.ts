// The onboarding part that makes ports 80/443 bindable for the node's Caddy: a check, and with
// the operator's consent (the same as for installing packages) a grant through `sudo -n`.
import { ApiError } from '../../api/contract';
import type { SshSession } from '../../ssh/ssh-session';
import type { HostFacts } from './detect';
import { grantPortsCommands, parsePortCheck, portsBindableBy, PORT_CHECK_SCRIPT, PORTS_SYSCTL_FILE, UNPRIVILEGED_PORT_SYSCTL } from './ports';

export interface PortsOutcome {
  changed: boolean;
  message: string;
  commands?: string[];
}

const SUDO_REFUSED = /a password is required|no tty present|not in the sudoers|not allowed to execute/i;

export async function ensurePorts(session: SshSession, host: string, facts: HostFacts, consent: boolean): Promise<PortsOutcome> {
  const before = parsePortCheck((await session.exec(PORT_CHECK_SCRIPT, { timeoutMs: 30_000 })).stdout);
  const how = portsBindableBy(before);
  if (how) return { changed: false, message: `ports 80/443 can be bound (${how})` };
  const commands = grantPortsCommands();
  const asRoot = commands.map((c) => c.replace(/sudo -n /g, '')).join(' && ');
  const why = `${facts.user} cannot bind ports 80/443 for Caddy (${UNPRIVILEGED_PORT_SYSCTL} is ${before.unprivilegedPortStart ?? 'unknown'} and ${before.caddyPath || 'caddy'} has no cap_net_bind_service)`;
  if (!consent) {
    throw new ApiError(
      'missing_packages',
      `${host}: ${why}. Nothing was changed on the server.`,
      `allow PodPloy to grant them (CLI: --yes; UI: tick "install missing packages"), or run on the server as root: ${asRoot}`,
    );
  }
  if (!facts.sudo) throw new ApiError('missing_packages', `${host}: ${why}, and sudo is not available to grant them`, `run as root on the server: ${asRoot}`);
  for (const command of commands) {
    const r = await session.exec(command, { timeoutMs: 30_000 });
    if (r.code === 0) continue;
    if (SUDO_REFUSED.test(r.stderr)) {
      throw new ApiError(
        'missing_packages',
        `${host}: ${why}; PodPloy may grant them, but sudo does not let ${facts.user} run '${command.replace(/^.*sudo -n /, '')}' without a password`,
        `allow it (e.g. '${facts.user} ALL=(root) NOPASSWD: /usr/sbin/sysctl, /usr/bin/tee ${PORTS_SYSCTL_FILE}' in /etc/sudoers.d), or run as root on the server: ${asRoot}`,
      );
    }
    throw new ApiError('missing_packages', `'${command}' failed on ${host} (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-500)}`, `run as root on the server: ${asRoot}`);
  }
  const after = parsePortCheck((await session.exec(PORT_CHECK_SCRIPT, { timeoutMs: 30_000 })).stdout);
  if (!portsBindableBy(after)) throw new ApiError('missing_packages', `${host}: ${UNPRIVILEGED_PORT_SYSCTL} is still ${after.unprivilegedPortStart ?? 'unknown'} after granting`, `run as root on the server: ${asRoot}`);
  return { changed: true, message: `granted ports 80/443 to unprivileged users (${UNPRIVILEGED_PORT_SYSCTL}=${after.unprivilegedPortStart}, persisted in ${PORTS_SYSCTL_FILE})`, commands };
}
