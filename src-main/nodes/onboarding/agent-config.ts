import { DEFAULT_NATS_PORT, type AgentConfig, type AgentNatsConfig } from '../../../proto/agent-config';
import { AGENT_PORT_BASE, type AgentPaths } from './agent-files';

// The node's nats-server port on its loopback, paired with the agent's port: several users of one
// server can each be a node, each with its own nats-server. The control plane derives it the same
// way from the node's agent port.
export function natsPortFor(agentPort: number): number {
  return DEFAULT_NATS_PORT + ((agentPort - AGENT_PORT_BASE) % 1000 + 1000) % 1000;
}

// `nats`: the node's agent nkey seed and the control plane's public nkey (src-main/events/
// nats-identity.ts), and the port; the stream limits stay the agent's defaults.
export function buildAgentConfig(
  nodeId: string,
  port: number,
  p: AgentPaths,
  podmanSocket: string,
  mode: 'systemd' | 'supervisor',
  secretsKey: Uint8Array,
  nats?: Pick<AgentNatsConfig, 'agentSeed' | 'controlPlaneNkey'>,
): AgentConfig {
  return {
    nodeId,
    listenHost: '127.0.0.1',
    listenPort: port,
    tlsDir: p.tlsDir,
    stateDir: p.stateDir,
    runDir: p.runDir,
    logDir: p.logDir,
    podmanSocket,
    manageJobs: mode === 'supervisor' ? ['podman'] : [],
    secretsKey: Buffer.from(secretsKey).toString('base64'),
    ...(nats ? { nats: { port: natsPortFor(port), agentSeed: nats.agentSeed, controlPlaneNkey: nats.controlPlaneNkey } } : {}),
  };
}
