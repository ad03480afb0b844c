import type { AgentConfig } from '../../../proto/agent-config';
import { AGENT_PORT, type AgentPaths } from './agent-files';

export function buildAgentConfig(nodeId: string, p: AgentPaths, podmanSocket: string, mode: 'systemd' | 'supervisor'): AgentConfig {
  return {
    nodeId,
    listenHost: '127.0.0.1',
    listenPort: AGENT_PORT,
    tlsDir: p.tlsDir,
    stateDir: p.stateDir,
    runDir: p.runDir,
    logDir: p.logDir,
    podmanSocket,
    manageJobs: mode === 'supervisor' ? ['podman'] : [],
  };
}
