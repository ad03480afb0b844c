import { describe, expect, it } from 'vitest';
import { parseDetectOutput, type HostFacts } from './detect';
import { installCommands, missingRequirements } from './requirements';
import {
  agentPaths,
  isSupervisorRunningCommand,
  parseSha256,
  podmanPingCommand,
  podmanSocketPath,
  startPodmanServiceDetached,
  startSupervisorCommand,
  startSystemdAgent,
  stopByPidFileCommand,
  systemdUnit,
} from './agent-files';
import { q } from './shell';

const DEBIAN = `os_name=Linux
os_id=debian
os_like=
os_version=12
os_pretty=Debian GNU/Linux 12 (bookworm)
arch=x86_64
kernel=6.1.0-18-amd64
cgroups=2
podman=4.3.1
user=deploy
uid=1001
home=/home/deploy
subuid=1
subgid=1
systemd=1
node=v18.19.0
node_path=/usr/bin/node
caddy=v2.6.2
nats=v2.9.11
git=2.39.5
disk_total_kb=1000000
disk_free_kb=500000
mem_total_kb=2048000
mem_free_kb=1024000
cpus=2
sudo=1
pkg=apt-get
xdg_runtime_dir=/run/user/1001
`;

const facts = (over: Partial<Record<string, string>> = {}): HostFacts =>
  parseDetectOutput(
    DEBIAN.split('\n')
      .map((l) => {
        const k = l.split('=')[0];
        return k in over ? `${k}=${over[k]}` : l;
      })
      .join('\n'),
  );

describe('detect', () => {
  it('parses the detect script output', () => {
    const f = facts();
    expect(f).toMatchObject({
      osId: 'debian',
      osVersion: '12',
      arch: 'x86_64',
      cgroupsVersion: 2,
      podmanVersion: '4.3.1',
      nodeVersion: 'v18.19.0',
      caddyVersion: '2.6.2',
      natsVersion: '2.9.11',
      gitVersion: '2.39.5',
      systemd: true,
      subuid: true,
      home: '/home/deploy',
      diskFreeBytes: 500000 * 1024,
      memTotalBytes: 2048000 * 1024,
    });
  });

  it('refuses a host that is not Linux', () => {
    expect(() => facts({ os_name: 'Darwin' })).toThrow(/runs Darwin, not Linux/);
    expect(() => facts({ os_name: 'FreeBSD' })).toThrow(expect.objectContaining({ code: 'unsupported_os' }));
  });

  it('refuses a host that did not answer', () => {
    expect(() => parseDetectOutput('')).toThrow(/did not answer the detect script/);
  });

  it('refuses to onboard as root', () => {
    expect(() => facts({ uid: '0' })).toThrow(/refusing to onboard as root/);
  });
});

describe('requirements', () => {
  it('finds nothing missing on a ready host', () => {
    expect(missingRequirements(facts())).toEqual([]);
  });

  it('lists missing Podman, old Node.js and missing subuids, with the exact apt commands', () => {
    const f = facts({ podman: '', node: 'v16.20.0', subuid: '0' });
    expect(missingRequirements(f).map((m) => m.id)).toEqual(['podman', 'nodejs', 'subids']);
    expect(installCommands(f, missingRequirements(f))).toEqual([
      'sudo -n apt-get update -q',
      'sudo -n apt-get install -y -q podman uidmap slirp4netns fuse-overlayfs nodejs',
      'sudo -n usermod --add-subuids 100000-165535 --add-subgids 100000-165535 deploy',
    ]);
  });

  it('installs nats-server (the event stream) from the distro package', () => {
    const f = facts({ nats: '' });
    expect(missingRequirements(f)).toEqual([{ id: 'nats-server', why: 'nats-server is not installed (the event stream)' }]);
    // The package's own unauthenticated system service is switched off; the agent runs its own.
    expect(installCommands(f, missingRequirements(f))).toEqual([
      'sudo -n apt-get update -q',
      'sudo -n apt-get install -y -q nats-server',
      'sudo -n systemctl disable --now nats-server.service 2>/dev/null || true',
    ]);
    const noSystemd = facts({ nats: '', systemd: '0' });
    expect(installCommands(noSystemd, missingRequirements(noSystemd))).toEqual(['sudo -n apt-get update -q', 'sudo -n apt-get install -y -q nats-server']);
  });

  it('uses dnf on Fedora', () => {
    const f = facts({ os_id: 'fedora', pkg: 'dnf', caddy: '', nats: '' });
    expect(installCommands(f, missingRequirements(f))).toEqual(['sudo -n dnf install -y caddy nats-server']);
  });

  it('installs git when it is missing (apps built from git clone on the node)', () => {
    const f = facts({ git: '' });
    expect(missingRequirements(f)).toEqual([{ id: 'git', why: 'git is not installed (apps built from a git repository)' }]);
    expect(installCommands(f, missingRequirements(f))).toEqual(['sudo -n apt-get update -q', 'sudo -n apt-get install -y -q git']);
    const fedora = facts({ os_id: 'fedora', pkg: 'dnf', git: '', nats: '' });
    expect(installCommands(fedora, missingRequirements(fedora))).toEqual(['sudo -n dnf install -y nats-server git']);
  });

  it('says so when there is no package manager', () => {
    const f = facts({ pkg: '', podman: '' });
    expect(() => installCommands(f, missingRequirements(f))).toThrow(/no supported package manager/);
  });
});

describe('agent files and service commands', () => {
  const p = agentPaths('/home/deploy');

  it('puts everything under ~/.local/share/podploy/agent', () => {
    expect(p.bundle).toBe('/home/deploy/.local/share/podploy/agent/podploy-agent.cjs');
    expect(p.key).toBe('/home/deploy/.local/share/podploy/agent/tls/agent-key.pem');
    expect(p.unitFile).toBe('/home/deploy/.config/systemd/user/podploy-agent.service');
  });

  it('chooses the Podman socket by service mode', () => {
    expect(podmanSocketPath(facts(), p)).toBe('/run/user/1001/podman/podman.sock');
    expect(podmanSocketPath(facts({ systemd: '0' }), p)).toBe('/home/deploy/.local/share/podploy/agent/run/podman.sock');
  });

  it('renders the systemd user unit', () => {
    expect(systemdUnit(p, '/usr/bin/node')).toBe(`[Unit]
Description=PodPloy node agent
Documentation=https://podploy.dev/docs/agent
After=network-online.target podman.socket
Wants=network-online.target podman.socket

[Service]
Type=simple
ExecStart=/usr/bin/node /home/deploy/.local/share/podploy/agent/podploy-agent.cjs run --config /home/deploy/.local/share/podploy/agent/config.json
Restart=always
RestartSec=2
NoNewPrivileges=yes
UMask=0077

[Install]
WantedBy=default.target
`);
    expect(startSystemdAgent('deploy')).toEqual([
      'loginctl enable-linger deploy 2>/dev/null || sudo -n loginctl enable-linger deploy',
      'systemctl --user daemon-reload',
      'systemctl --user enable podploy-agent.service',
      'systemctl --user restart podploy-agent.service',
    ]);
  });

  it('builds the supervisor commands', () => {
    expect(startSupervisorCommand(p, '/usr/bin/node')).toBe(
      'cd /home/deploy/.local/share/podploy/agent || exit 1; setsid nohup /usr/bin/node /home/deploy/.local/share/podploy/agent/podploy-agent.cjs supervise --config /home/deploy/.local/share/podploy/agent/config.json >> /home/deploy/.local/share/podploy/agent/log/supervisor.log 2>&1 < /dev/null & for i in $(seq 1 50); do [ -s /home/deploy/.local/share/podploy/agent/run/supervisor.pid ] && exit 0; sleep 0.1; done; echo \'supervisor did not start\' >&2; exit 1',
    );
    expect(isSupervisorRunningCommand(p)).toBe(
      'pid=$(cat /home/deploy/.local/share/podploy/agent/run/supervisor.pid 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo running || echo stopped',
    );
    expect(stopByPidFileCommand('/x/a.pid')).toContain('kill -TERM "$pid"');
    expect(startPodmanServiceDetached('/s/podman.sock', p)).toContain("setsid nohup podman system service --time=0 unix:///s/podman.sock");
    expect(podmanPingCommand('/s/p.sock')).toMatch(/^node -e '.*_ping.*' \/s\/p\.sock$/);
  });

  it('quotes shell arguments', () => {
    expect(q('/home/a b')).toBe("'/home/a b'");
    expect(q("it's")).toBe("'it'\\''s'");
    expect(q('/plain/path')).toBe('/plain/path');
  });

  it('parses sha256sum output', () => {
    const sums = parseSha256(`${'a'.repeat(64)}  /x/y\n${'b'.repeat(64)} */z\n`);
    expect(sums.get('/x/y')).toBe('a'.repeat(64));
    expect(sums.get('/z')).toBe('b'.repeat(64));
  });
});
