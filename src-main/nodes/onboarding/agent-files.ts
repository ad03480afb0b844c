import type { HostFacts } from './detect';
import { q } from './shell';

export const AGENT_PORT_BASE = 7443;

// The agent listens on the node's loopback only. Each user on a server gets its own port, so
// several users of one machine can each be a node.
export function agentPortFor(uid: number): number {
  return AGENT_PORT_BASE + (uid % 1000);
}
export const UNIT_NAME = 'podploy-agent.service';

export interface AgentPaths {
  dir: string;
  bundle: string;
  config: string;
  tlsDir: string;
  caCert: string;
  cert: string;
  key: string;
  signingKey: string;
  stateDir: string;
  runDir: string;
  logDir: string;
  supervisorPid: string;
  podmanPid: string;
  unitFile: string;
}

export function agentPaths(home: string): AgentPaths {
  const dir = `${home}/.local/share/podploy/agent`;
  return {
    dir,
    bundle: `${dir}/podploy-agent.cjs`,
    config: `${dir}/config.json`,
    tlsDir: `${dir}/tls`,
    caCert: `${dir}/tls/ca.pem`,
    cert: `${dir}/tls/agent.pem`,
    key: `${dir}/tls/agent-key.pem`,
    signingKey: `${dir}/tls/control-plane-signing.pub`,
    stateDir: `${dir}/state`,
    runDir: `${dir}/run`,
    logDir: `${dir}/log`,
    supervisorPid: `${dir}/run/supervisor.pid`,
    podmanPid: `${dir}/run/podman-interim.pid`,
    unitFile: `${home}/.config/systemd/user/${UNIT_NAME}`,
  };
}

// Where the user's Podman REST socket lives: systemd's socket unit, or one our supervisor runs.
export function podmanSocketPath(f: HostFacts, p: AgentPaths): string {
  if (f.systemd) return `${f.xdgRuntimeDir || `/run/user/${f.uid}`}/podman/podman.sock`;
  return `${p.runDir}/podman.sock`;
}

export function makeDirsCommand(p: AgentPaths): string {
  return `mkdir -p ${[p.dir, p.tlsDir, p.stateDir, p.runDir, p.logDir].map(q).join(' ')} && chmod 700 ${q(p.dir)} ${q(p.tlsDir)} ${q(p.stateDir)}`;
}

export function sha256Command(paths: string[]): string {
  return `sha256sum ${paths.map(q).join(' ')} 2>/dev/null; true`;
}

export function parseSha256(output: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of output.split('\n')) {
    const m = /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line.trim());
    if (m) sums.set(m[2], m[1]);
  }
  return sums;
}

export function installFileCommand(tmp: string, dest: string): string {
  return `mv -f ${q(tmp)} ${q(dest)}`;
}

// A Node one-liner that exits 0 when the Podman REST socket answers its ping.
export function podmanPingCommand(socket: string, node = 'node'): string {
  const js = `require('http').get({socketPath:process.argv[1],path:'/_ping',timeout:3000},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))`;
  return `${q(node)} -e ${q(js)} ${q(socket)}`;
}

// Podman's REST socket, systemd path: the user's podman.socket unit.
export function enablePodmanSocketSystemd(): string {
  return 'systemctl --user enable --now podman.socket';
}

// Podman's REST socket without systemd: a detached `podman system service`, replaced by the
// agent supervisor's own copy once the supervisor starts.
export function startPodmanServiceDetached(socket: string, p: AgentPaths): string {
  return (
    `${makeDirsCommand(p)} || exit 1; rm -f ${q(socket)}; ` +
    `setsid nohup podman system service --time=0 ${q(`unix://${socket}`)} >> ${q(`${p.logDir}/podman-service.log`)} 2>&1 < /dev/null & ` +
    `echo $! > ${q(p.podmanPid)}; for i in $(seq 1 50); do [ -S ${q(socket)} ] && exit 0; sleep 0.1; done; exit 1`
  );
}

export function systemdUnit(p: AgentPaths, nodePath: string): string {
  return `[Unit]
Description=PodPloy node agent
Documentation=https://podploy.dev/docs/agent
After=network-online.target podman.socket
Wants=network-online.target podman.socket

[Service]
Type=simple
ExecStart=${nodePath} ${p.bundle} run --config ${p.config}
Restart=always
RestartSec=2
NoNewPrivileges=yes
UMask=0077

[Install]
WantedBy=default.target
`;
}

export function startSystemdAgent(user: string): string[] {
  return [
    `loginctl enable-linger ${q(user)} 2>/dev/null || sudo -n loginctl enable-linger ${q(user)}`,
    'systemctl --user daemon-reload',
    `systemctl --user enable ${UNIT_NAME}`,
    `systemctl --user restart ${UNIT_NAME}`,
  ];
}

export function isSupervisorRunningCommand(p: AgentPaths): string {
  return `pid=$(cat ${q(p.supervisorPid)} 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo running || echo stopped`;
}

export function startSupervisorCommand(p: AgentPaths, nodePath: string): string {
  return (
    `cd ${q(p.dir)} || exit 1; setsid nohup ${q(nodePath)} ${q(p.bundle)} supervise --config ${q(p.config)} ` +
    `>> ${q(`${p.logDir}/supervisor.log`)} 2>&1 < /dev/null & ` +
    `for i in $(seq 1 50); do [ -s ${q(p.supervisorPid)} ] && exit 0; sleep 0.1; done; echo 'supervisor did not start' >&2; exit 1`
  );
}

// Stops a process by pid file: SIGTERM, wait up to 10 s, then SIGKILL.
export function stopByPidFileCommand(pidFile: string): string {
  return (
    `pid=$(cat ${q(pidFile)} 2>/dev/null); if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; ` +
    `for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$pid" 2>/dev/null; fi; rm -f ${q(pidFile)}; true`
  );
}

export function stopSystemdAgent(p: AgentPaths): string {
  return `systemctl --user disable --now ${UNIT_NAME} 2>/dev/null; rm -f ${q(p.unitFile)}; systemctl --user daemon-reload 2>/dev/null; true`;
}

export function removeAgentDirCommand(p: AgentPaths): string {
  return `rm -rf ${q(p.dir)} && rmdir ${q(p.dir.replace(/\/agent$/, ''))} 2>/dev/null; true`;
}

export function removeContainersCommand(): string {
  return 'podman rm --all --force --time 10';
}
