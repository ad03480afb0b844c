import type { AgentConfig } from '../../../proto/agent-config';
import type { AgentPaths } from './agent-files';

export function buildAgentConfig(nodeId: string, port: number, p: AgentPaths, podmanSocket: string, mode: 'systemd' | 'supervisor', secretsKey: Uint8Array): AgentConfig {
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
  };
}
