// `podploy-agent run`: the gRPC server, the Deployer and the node's ingress (Caddy and the slot
// gates), until SIGTERM or SIGINT.
import type { AgentConfig } from '../proto/agent-config';
import type { SignedCommand } from '../proto/gen/podploy/agent/v1/agent';
import { NodeBackups } from './backup/node-backups';
import { CommandExecutor } from './commands';
import { loadAgentTls } from './config';
import { Deployer } from './deploy/deploy-app';
import { httpsListenOf, IngressRuntime } from './ingress/runtime';
import { DesiredStateStore } from './lazarus/desired-state';
import { Lazarus } from './lazarus/lazarus';
import { fileLogger } from './logger';
import { LivenessMonitor } from './probes/liveness-monitor';
import { PodmanClient } from './podman/client';
import { waitForPodman } from './podman/system';
import { openSealed } from './secrets/node-key';
import { SecretsDelivery } from './secrets/secrets-delivery';
import { createAgentService, startAgentServer } from './server';
import { LabelsStore } from './state/labels-store';
import { NonceFileStore } from './state/nonce-file-store';
import { startNodeEvents } from './events/node-events';
import { containerKill } from './terminal/container-session';
import { LiveTerminals } from './terminal/live-sessions';
import { AGENT_VERSION } from './version';

// How long the start-up secrets sweep waits for Podman's service to answer.
const PODMAN_START_WAIT_MS = 120_000;

export async function runAgent(config: AgentConfig): Promise<void> {
  const log = fileLogger(config.logDir, config.logLevel);
  try {
    const tls = loadAgentTls(config);
    const labels = new LabelsStore(config.stateDir);
    const nonces = new NonceFileStore(config.stateDir);
    const podman = new PodmanClient(config.podmanSocket);
    // The node's event sink (JetStream through the node's nats-server, or the log on nodes
    // onboarded before events existed): everything that emits events writes to nodeEvents.sink.
    const nodeEvents = startNodeEvents(config, log);
    // The ingress reads the Deployer's live slots when it restores the gates (at start, below);
    // the Deployer finds each app's slots and gates in the ingress.
    const ingress: IngressRuntime = new IngressRuntime({
      stateDir: config.stateDir,
      runDir: config.runDir,
      logDir: config.logDir,
      httpListen: config.ingressHttpListen,
      httpsListen: httpsListenOf(config),
      caddyBinary: config.caddyBinary,
      live: (app) => deployer.state.live(app),
      deploying: () => deployer.inProgressApps(),
      log,
    });
    const secrets = new SecretsDelivery({ config, podman, log });
    const deployer: Deployer = new Deployer({
      podman,
      caddy: ingress.caddy.admin,
      gates: ingress,
      stateDir: config.stateDir,
      secrets: secrets.hook,
      forgetSecrets: (c) => secrets.forget(c),
      log,
    });
    // Lazarus keeps every app's live container running from the node's signed desired state.
    const liveness = new LivenessMonitor({ podman, log, events: nodeEvents.sink });
    const lazarus = new Lazarus({
      podman,
      deployer,
      gates: ingress,
      desired: new DesiredStateStore(config.stateDir, tls.commandKey, config.nodeId, log),
      stateDir: config.stateDir,
      secrets: secrets.hook,
      openSealed: (sealed) => openSealed(config, sealed),
      liveness,
      events: nodeEvents.sink,
      log,
    });
    secrets.restoreWhenReady(() => waitForPodman(podman, PODMAN_START_WAIT_MS));
    await ingress.start();
    lazarus.start().catch((err) => log.error({ event: 'lazarus_start_failed', err: (err as Error).message }, 'Lazarus did not start'));
    nodeEvents.startMetrics({ podman, live: () => deployer.state.all(), restarts: (app) => lazarus.restartsOf(app) });
    const apps = { podman, deployer, ingress, lazarus, forgetSecrets: (c: string) => secrets.forget(c) };
    // Backups run on their schedules from the node's signed policies, also with the control plane closed.
    const backups = new NodeBackups({
      nodeId: config.nodeId,
      stateDir: config.stateDir,
      commandKey: tls.commandKey,
      podman,
      apps: { live: (app) => deployer.state.live(app), gateOpen: () => false },
      openSealed: (sealed) => openSealed(config, sealed),
      events: nodeEvents.sink,
      log,
    });
    backups.start().catch((err) => log.error({ event: 'backups_start_failed', err: (err as Error).message }, 'backups did not start'));
    const commands = new CommandExecutor({ nodeId: config.nodeId, commandKey: tls.commandKey, nonces, labels, ingress, apps, lazarus, backups, log });
    const deploys = {
      deployer,
      ingress,
      openSealed: (sealed: Uint8Array) => openSealed(config, sealed),
      onDeployed: (signed: SignedCommand) => lazarus.deployed(signed),
      events: nodeEvents.sink,
    };
    // Terminal sessions a killed agent left running end before new ones can open.
    const terminalSessions = new LiveTerminals(config.stateDir);
    await terminalSessions.endOrphans(containerKill(podman), log);
    const service = createAgentService({ nodeId: config.nodeId, podman, labels, commands, log, startedAtMs: Date.now(), deploys, terminals: { sessions: terminalSessions, events: nodeEvents.sink }, backups });
    const server = await startAgentServer(config.listenHost, config.listenPort, tls, service);
    log.info({ event: 'agent_started', version: AGENT_VERSION, nodeId: config.nodeId, listen: `${config.listenHost}:${server.port}`, apps: Object.keys(ingress.known()).length }, 'agent listening');
    nodeEvents.sink.emit({ kind: 'agent.started', message: `agent ${AGENT_VERSION} started`, data: { version: AGENT_VERSION, apps: Object.keys(ingress.known()).length } });

    const shutdown = (signal: string) => {
      log.info({ event: 'agent_stopping', signal }, 'agent stopping');
      liveness.close();
      backups.stop();
      // Events last: what stopping emits still goes out (within the publisher's close deadline).
      Promise.allSettled([lazarus.stop(), server.stop(), ingress.stop(), terminalSessions.endOrphans(containerKill(podman), log, 'stop')])
        .then(() => nodeEvents.stop())
        .finally(() => process.exit(0));
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  } catch (err) {
    log.fatal({ event: 'agent_failed', err }, (err as Error).message);
    throw err;
  }
}
