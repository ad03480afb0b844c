// `podploy-agent run`: the gRPC server, until SIGTERM or SIGINT.
import type { AgentConfig } from '../proto/agent-config';
import { CommandExecutor } from './commands';
import { loadAgentTls } from './config';
import { fileLogger } from './logger';
import { PodmanClient } from './podman/client';
import { createAgentService, startAgentServer } from './server';
import { LabelsStore } from './state/labels-store';
import { NonceFileStore } from './state/nonce-file-store';
import { AGENT_VERSION } from './version';

export async function runAgent(config: AgentConfig): Promise<void> {
  const log = fileLogger(config.logDir, config.logLevel);
  try {
    const tls = loadAgentTls(config);
    const labels = new LabelsStore(config.stateDir);
    const nonces = new NonceFileStore(config.stateDir);
    const podman = new PodmanClient(config.podmanSocket);
    const commands = new CommandExecutor({ nodeId: config.nodeId, commandKey: tls.commandKey, nonces, labels, log });
    const service = createAgentService({ nodeId: config.nodeId, podman, labels, commands, log, startedAtMs: Date.now() });
    const server = await startAgentServer(config.listenHost, config.listenPort, tls, service);
    log.info({ event: 'agent_started', version: AGENT_VERSION, nodeId: config.nodeId, listen: `${config.listenHost}:${server.port}` }, 'agent listening');

    const shutdown = (signal: string) => {
      log.info({ event: 'agent_stopping', signal }, 'agent stopping');
      server.stop().then(() => process.exit(0));
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  } catch (err) {
    log.fatal({ event: 'agent_failed', err }, (err as Error).message);
    throw err;
  }
}
