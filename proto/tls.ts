// Names both ends of the agent wire agree on. Pure: no Node APIs.

export const DEFAULT_AGENT_PORT = 7443;
export const CONTROL_PLANE_CN = 'podploy-control-plane';
export const AGENT_SERVER_DOMAIN = 'agents.podploy.internal';

// The DNS name in an agent's server certificate; the control plane dials with this name as
// grpc.ssl_target_name_override because it reaches the agent through a forwarded local port.
export const agentServerName = (nodeId: string): string => `${nodeId}.${AGENT_SERVER_DOMAIN}`;

// Channel options a control-plane client needs to dial one agent.
export function agentChannelOptions(nodeId: string): Record<string, string> {
  return {
    'grpc.ssl_target_name_override': agentServerName(nodeId),
    'grpc.default_authority': agentServerName(nodeId),
  };
}
