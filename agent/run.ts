// `podploy-agent run`: the gRPC server, the Deployer and the node's ingress (Caddy and the slot
// gates), until SIGTERM or SIGINT.
import type { AgentConfig } from '../proto/agent-config';
import { CommandExecutor } from './commands';
import { loadAgentTls } from './config';
import { Deployer } from './deploy/deploy-app';
import { httpsListenOf, IngressRuntime } from './ingress/runtime';
import { fileLogger } from './logger';
import { PodmanClient } from './podman/client';
import { waitForPodman } from './podman/system';
import { openSealed } from './secrets/node-key';
import { SecretsDelivery } from './secrets/secrets-delivery';
import { createAgentService, startAgentServer } from './server';
import { LabelsStore } from './state/labels-store';
import { NonceFileStore } from './state/nonce-file-store';
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
    secrets.restoreWhenReady(() => waitForPodman(podman, PODMAN_START_WAIT_MS));
    await ingress.start();
    const apps = { podman, deployer, ingress, forgetSecrets: (c: string) => secrets.forget(c) };
    const commands = new CommandExecutor({ nodeId: config.nodeId, commandKey: tls.commandKey, nonces, labels, ingress, apps, log });
    const service = createAgentService({ nodeId: config.nodeId, podman, labels, commands, log, startedAtMs: Date.now(), deploys: { deployer, ingress, openSealed: (sealed) => openSealed(config, sealed) } });
    const server = await startAgentServer(config.listenHost, config.listenPort, tls, service);
    log.info({ event: 'agent_started', version: AGENT_VERSION, nodeId: config.nodeId, listen: `${config.listenHost}:${server.port}`, apps: Object.keys(ingress.known()).length }, 'agent listening');

    const shutdown = (signal: string) => {
      log.info({ event: 'agent_stopping', signal }, 'agent stopping');
      Promise.allSettled([server.stop(), ingress.stop()]).then(() => process.exit(0));
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  } catch (err) {
    log.fatal({ event: 'agent_failed', err }, (err as Error).message);
    throw err;
  }
}
