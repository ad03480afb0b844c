import { createHash, randomUUID } from 'node:crypto';
import { ApiError, type AddNodeInput, type OnboardProgress } from '../../api/contract';
import type { z } from 'zod';
import { AgentConnection, handshakeWithin, type AgentCredentials } from '../../agents/agent-client';
import type { SetIngressSettings } from '../../../proto/gen/podploy/agent/v1/agent';
import type { AgentNatsConfig } from '../../../proto/agent-config';
import type { AgentBundle } from '../../agents/agent-bundle';
import { factsFromWire } from '../../agents/wire-convert';
import type { FleetCa } from '../../crypto/fleet-ca';
import type { KnownHosts } from '../../ssh/known-hosts';
import { parseSshAddress, type SshAddress } from '../../ssh/ssh-address';
import { SshSession } from '../../ssh/ssh-session';
import type { NodeRow, NodeStore } from '../node-store';
import { buildAgentConfig } from './agent-config';
import {
  agentPortFor,
  agentPaths,
  enablePodmanSocketSystemd,
  isSupervisorRunningCommand,
  makeDirsCommand,
  parseSha256,
  podmanPingCommand,
  podmanSocketPath,
  removeAgentDirCommand,
  sha256Command,
  startPodmanServiceDetached,
  startSupervisorCommand,
  startSystemdAgent,
  stopByPidFileCommand,
  stopSystemdAgent,
  systemdUnit,
  UNIT_NAME,
  type AgentPaths,
} from './agent-files';
import { DETECT_SCRIPT, parseDetectOutput, type HostFacts } from './detect';
import { checkArch, installCommands, missingRequirements } from './requirements';
import { q } from './shell';
import { ensurePorts } from './ports-step';
import { StepReporter } from './steps';

export const HANDSHAKE_WAIT_MS = 20_000;
export const INSTALL_TIMEOUT_MS = 15 * 60_000;

type AddNode = z.output<typeof import('../../api/contract').AddNodeInput>;

export interface OnboardDeps {
  nodes: NodeStore;
  knownHosts: KnownHosts;
  ca: FleetCa;
  credentials: AgentCredentials;
  signingPublicKeyPem: string;
  bundle: () => AgentBundle;
  // The node's secrets key (src-main/secrets/node-seal.ts), created on first use.
  nodeSecretsKey: (nodeId: string) => Uint8Array;
  // The node's `nats` section of the agent config (src-main/events/nats-identity.ts), the same on
  // every re-onboarding.
  natsIdentity: (nodeId: string) => Pick<AgentNatsConfig, 'agentSeed' | 'controlPlaneNkey'>;
  // The control plane's TLS settings for the node's Caddy, sent once the agent answers.
  ingressSettings?: () => SetIngressSettings;
  // Overrides the detect step's parsing (tests simulate a non-Linux host through it).
  parseDetect?: (output: string) => HostFacts;
}

export interface OnboardResult {
  row: NodeRow;
  changed: boolean;
  timings: StepReporter['timings'];
}

export function defaultNodeName(host: string): string {
  const base = host.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50);
  return base || 'node';
}

// Brings a server under management, one reported step at a time. Nothing is left behind on a
// failure: a node that was new has its agent files removed, and no row is written until the
// agent has answered the mTLS handshake.
export async function onboardNode(input: AddNode, deps: OnboardDeps, progress: (p: OnboardProgress) => void): Promise<OnboardResult> {
  const addr = parseSshAddress(input.address);
  const existing = deps.nodes.byEndpoint(addr.host, addr.port, addr.user);
  const name = input.name ?? existing?.name ?? uniqueName(deps.nodes, defaultNodeName(addr.host));
  const clash = deps.nodes.byName(name);
  if (clash && clash.id !== existing?.id) {
    throw new ApiError('conflict', `the name '${name}' is already used by ${clash.sshUser}@${clash.host}:${clash.port}`, 'choose another name with --name');
  }
  if (existing && input.name && existing.name !== input.name) {
    throw new ApiError('conflict', `${addr.user}@${addr.host}:${addr.port} is already onboarded as '${existing.name}'`, 'remove it first to rename it');
  }

  const steps = new StepReporter(progress);
  const bundle = deps.bundle();
  let ssh: SshSession | null = null;
  let conn: AgentConnection | null = null;
  let cleanup: (() => Promise<void>) | null = null;
  try {
    ssh = await steps.run('connect', `connecting to ${addr.user}@${addr.host}:${addr.port}`, async () => {
      const session = await SshSession.connect(addr, input.auth, {
        verifyHostKey: deps.knownHosts.verifier(addr.host, addr.port, { expectedFingerprint: input.expectedFingerprint, acceptNew: input.acceptNewHostKey }),
      });
      const status = deps.knownHosts.status(addr.host, addr.port, session.hostKey);
      return Object.assign(session, {
        state: status === 'pinned' ? ('unchanged' as const) : ('done' as const),
        message: `connected; host key ${session.hostKey.keyType} ${session.hostKey.fingerprint} (${status === 'pinned' ? 'matches the pinned key' : 'new, will be pinned'})`,
        detail: { fingerprint: session.hostKey.fingerprint, keyType: session.hostKey.keyType, known: status },
      });
    });
    const session = ssh;

    let facts = (
      await steps.run('detect', 'detecting OS, architecture, Podman, Node.js, systemd', async () => {
        const r = await session.exec(DETECT_SCRIPT, { timeoutMs: 30_000 });
        const f = (deps.parseDetect ?? parseDetectOutput)(r.stdout);
        checkArch(f);
        return {
          facts: f,
          state: 'done' as const,
          message: `${f.osPrettyName || f.osId} ${f.arch}, kernel ${f.kernel}, cgroups v${f.cgroupsVersion}, Podman ${f.podmanVersion || 'missing'}, Node.js ${f.nodeVersion || 'missing'}, ${f.systemd ? 'systemd' : 'no systemd'}`,
          detail: { ...f },
        };
      })
    ).facts;

    await steps.run('install', 'checking required packages and ports 80/443', async () => {
      const packages = await (async () => {
        const missing = missingRequirements(facts);
        if (!missing.length) return { state: 'unchanged' as const, message: 'everything needed is installed' };
        const commands = installCommands(facts, missing);
        const list = missing.map((m) => m.why).join('; ');
        if (!input.install) {
          throw new ApiError(
            'missing_packages',
            `${addr.host} is missing what PodPloy needs: ${list}. Nothing was changed on the server.`,
            `allow PodPloy to install them (CLI: --yes; UI: tick "install missing packages"), or run on the server: ${commands.join(' && ')}`,
          );
        }
        if (!facts.sudo) throw new ApiError('missing_packages', `${list}, and sudo is not available on ${addr.host} to install them`, `install as root: ${commands.map((c) => c.replace(/^sudo -n /, '')).join(' && ')}`);
        for (const command of commands) {
          const r = await session.exec(command, { timeoutMs: INSTALL_TIMEOUT_MS });
          if (r.code === 0) continue;
          if (/a password is required|no tty present|not in the sudoers|not allowed to execute/i.test(r.stderr)) {
            throw new ApiError(
              'missing_packages',
              `${list}; PodPloy may install them, but sudo on ${addr.host} does not let ${facts.user} run '${command.replace(/^sudo -n /, '')}' without a password`,
              `allow it without a password (e.g. '${facts.user} ALL=(root) NOPASSWD: /usr/bin/apt-get' in /etc/sudoers.d), or run as root on the server: ${commands.map((c) => c.replace(/^sudo -n /, '')).join(' && ')}`,
            );
          }
          const tail = (r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n');
          throw new ApiError('missing_packages', `'${command}' failed on ${addr.host} (exit ${r.code}): ${tail}`, 'fix the package manager on the server (its output is above) and onboard again');
        }
        facts = (deps.parseDetect ?? parseDetectOutput)((await session.exec(DETECT_SCRIPT)).stdout);
        const still = missingRequirements(facts);
        if (still.length) throw new ApiError('missing_packages', `still missing after installing: ${still.map((m) => m.why).join('; ')}`, 'install them by hand and onboard again');
        return { state: 'done' as const, message: `installed: ${missing.map((m) => m.id).join(', ')}`, detail: { commands } };
      })();
      const ports = await ensurePorts(session, addr.host, facts, !!input.install);
      const state = packages.state === 'done' || ports.changed ? ('done' as const) : ('unchanged' as const);
      const commands = [...((packages.detail?.commands as string[] | undefined) ?? []), ...(ports.commands ?? [])];
      return { state, message: `${packages.message}; ${ports.message}`, ...(commands.length ? { detail: { commands } } : {}) };
    });

    const paths = agentPaths(facts.home);
    const socket = podmanSocketPath(facts, paths);
    const node = facts.nodePath || 'node';
    const dirExisted = (await session.exec(`test -d ${q(paths.dir)}`)).code === 0;
    if (!existing && !dirExisted) {
      cleanup = async () => {
        await session.exec(facts.systemd ? stopSystemdAgent(paths) : stopByPidFileCommand(paths.supervisorPid));
        await session.exec(stopByPidFileCommand(paths.podmanPid));
        await session.exec(removeAgentDirCommand(paths));
      };
    }

    await steps.run('podman-socket', 'enabling the Podman REST socket', async () => {
      if ((await session.exec(podmanPingCommand(socket, node))).code === 0) {
        return { state: 'unchanged' as const, message: `Podman answers on ${socket}`, detail: { socket } };
      }
      if (facts.systemd) await session.run(enablePodmanSocketSystemd(), 'enabling podman.socket');
      else await session.run(startPodmanServiceDetached(socket, paths), 'starting podman system service');
      if ((await session.exec(podmanPingCommand(socket, node))).code !== 0) {
        throw new ApiError('agent_failed', `Podman's REST socket at ${socket} does not answer`, `run 'podman system service' by hand on ${addr.host} to see why (podman info may show a storage or cgroups problem)`);
      }
      return { state: 'done' as const, message: `Podman answers on ${socket}`, detail: { socket } };
    });

    const nodeId = existing?.id ?? randomUUID();
    const agentPort = existing?.agentPort ?? agentPortFor(facts.uid);
    const serviceMode = facts.systemd ? ('systemd' as const) : ('supervisor' as const);
    const uploaded = await steps.run('upload', `uploading the agent (${(bundle.bytes.length / 1024).toFixed(0)} KiB) and its certificate`, () =>
      uploadAgent(session, paths, { nodeId, agentPort, socket, serviceMode, existing: !!existing, bundle, deps }),
    );

    await steps.run('service', `starting the agent as a ${serviceMode === 'systemd' ? 'systemd user unit' : 'supervised process'}`, async () => {
      if (serviceMode === 'systemd') return startAsSystemd(session, paths, facts, node, uploaded.state === 'done');
      return startSupervised(session, paths, node, uploaded.state === 'done');
    });

    const hs = await steps.run('handshake', 'waiting for the agent to answer over mutual TLS', async () => {
      conn = await AgentConnection.open(session, nodeId, agentPort, deps.credentials);
      const res = await handshakeWithin(conn, HANDSHAKE_WAIT_MS);
      if (res.nodeId !== nodeId) throw new ApiError('agent_failed', `the agent answered as node ${res.nodeId}, expected ${nodeId}`);
      const tls = deps.ingressSettings ? await (conn as AgentConnection).execute({ actor: 'onboarding', setIngressSettings: deps.ingressSettings() }) : null;
      const tlsChanged = tls !== null && !tls.message.startsWith('TLS settings unchanged');
      return {
        res,
        state: existing && !tlsChanged ? ('unchanged' as const) : ('done' as const),
        message: `agent ${res.agentVersion} is online (mTLS verified)${tls ? `; ${tls.message}` : ''}`,
      };
    });

    deps.knownHosts.pin(addr.host, addr.port, session.hostKey);
    const now = Date.now();
    const fields = {
      serviceMode,
      agentVersion: hs.res.agentVersion,
      agentSha256: bundle.sha256,
      facts: factsFromWire(hs.res.facts),
      labels: hs.res.labels ?? {},
      lastSeenAt: now,
    };
    const row = existing
      ? deps.nodes.update(existing.id, fields)
      : deps.nodes.insert({
          id: nodeId,
          name,
          host: addr.host,
          port: addr.port,
          sshUser: addr.user,
          hostKeyFingerprint: session.hostKey.fingerprint,
          hostKey: session.hostKey.keyBase64,
          auth: input.auth,
          agentPort,
          createdAt: now,
          usage: null,
          ...fields,
        });
    cleanup = null;
    return { row, changed: steps.changed, timings: steps.timings };
  } catch (err) {
    if (cleanup) await (cleanup as () => Promise<void>)().catch(() => {});
    throw err;
  } finally {
    (conn as AgentConnection | null)?.close();
    ssh?.close();
  }
}

function uniqueName(nodes: NodeStore, base: string): string {
  if (!nodes.byName(base)) return base;
  for (let i = 2; ; i++) if (!nodes.byName(`${base}-${i}`)) return `${base}-${i}`;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

async function uploadAgent(
  ssh: SshSession,
  paths: AgentPaths,
  o: { nodeId: string; agentPort: number; socket: string; serviceMode: 'systemd' | 'supervisor'; existing: boolean; bundle: AgentBundle; deps: OnboardDeps },
) {
  await ssh.run(makeDirsCommand(paths), 'creating the agent folders');
  const remote = parseSha256((await ssh.exec(sha256Command([paths.bundle, paths.config, paths.caCert, paths.cert, paths.key, paths.signingKey]))).stdout);
  const files: { path: string; data: Buffer; mode: number }[] = [
    { path: paths.bundle, data: o.bundle.bytes, mode: 0o644 },
    { path: paths.config, data: Buffer.from(JSON.stringify(buildAgentConfig(o.nodeId, o.agentPort, paths, o.socket, o.serviceMode, o.deps.nodeSecretsKey(o.nodeId), o.deps.natsIdentity(o.nodeId)), null, 2) + '\n'), mode: 0o600 },
    { path: paths.caCert, data: Buffer.from(o.deps.ca.caCertPem), mode: 0o644 },
    { path: paths.signingKey, data: Buffer.from(o.deps.signingPublicKeyPem), mode: 0o644 },
  ];
  // An onboarded node keeps the certificate it has; a new one gets a fresh key pair.
  if (!o.existing || !remote.has(paths.cert) || !remote.has(paths.key)) {
    const issued = await o.deps.ca.issueAgentCert(o.nodeId);
    files.push({ path: paths.cert, data: Buffer.from(issued.certPem), mode: 0o644 }, { path: paths.key, data: Buffer.from(issued.keyPem), mode: 0o600 });
  }
  const changed = files.filter((f) => remote.get(f.path) !== sha256(f.data));
  for (const f of changed) {
    const tmp = `${f.path}.tmp-${process.pid}`;
    await ssh.writeFile(tmp, f.data, f.mode);
    const sums = parseSha256((await ssh.exec(sha256Command([tmp]))).stdout);
    if (sums.get(tmp) !== sha256(f.data)) {
      await ssh.exec(`rm -f ${q(tmp)}`);
      throw new ApiError('agent_failed', `checksum mismatch after uploading ${f.path}: the file was altered in transit or the disk is full`, 'check free disk space on the node and retry');
    }
    await ssh.run(`mv -f ${q(tmp)} ${q(f.path)}`, `installing ${f.path}`);
  }
  if (!changed.length) return { state: 'unchanged' as const, message: `agent ${o.bundle.sha256.slice(0, 12)} and its files are already in place` };
  return {
    state: 'done' as const,
    message: `wrote ${changed.map((f) => f.path.slice(paths.dir.length + 1)).join(', ')} (agent sha256 ${o.bundle.sha256.slice(0, 12)} verified)`,
    detail: { sha256: o.bundle.sha256, files: changed.map((f) => f.path) },
  };
}

async function startAsSystemd(ssh: SshSession, paths: AgentPaths, facts: HostFacts, node: string, filesChanged: boolean) {
  const unit = systemdUnit(paths, node);
  const current = parseSha256((await ssh.exec(sha256Command([paths.unitFile]))).stdout).get(paths.unitFile);
  const active = (await ssh.exec(`systemctl --user is-active ${UNIT_NAME}`)).stdout.trim() === 'active';
  if (current === sha256(unit) && active && !filesChanged) {
    return { state: 'unchanged' as const, message: `${UNIT_NAME} is active` };
  }
  await ssh.run(`mkdir -p ${q(paths.unitFile.replace(/\/[^/]+$/, ''))}`, 'creating the systemd user folder');
  await ssh.writeFile(paths.unitFile, unit, 0o644);
  for (const c of startSystemdAgent(facts.user)) await ssh.run(c, `'${c}'`);
  return { state: 'done' as const, message: `${UNIT_NAME} enabled and started (linger on)` };
}

async function startSupervised(ssh: SshSession, paths: AgentPaths, node: string, filesChanged: boolean) {
  const running = (await ssh.exec(isSupervisorRunningCommand(paths))).stdout.trim() === 'running';
  if (running && !filesChanged) return { state: 'unchanged' as const, message: 'the agent supervisor is running' };
  if (running) await ssh.run(stopByPidFileCommand(paths.supervisorPid), 'stopping the old agent supervisor');
  // The supervisor runs its own Podman service; the interim one from the socket step goes.
  await ssh.run(stopByPidFileCommand(paths.podmanPid), 'handing the Podman service to the supervisor');
  await ssh.run(startSupervisorCommand(paths, node), 'starting the agent supervisor');
  return { state: 'done' as const, message: `supervisor started (restarts the agent if it dies; no systemd on this host)` };
}

export type { SshAddress, AddNodeInput };
