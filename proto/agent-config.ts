// The agent's config.json: written by onboarding on the control plane, read by the agent.
// Pure: no Node APIs.

export type ManagedJob = 'podman';

export interface AgentConfig {
  // The node's id in the control plane; commands for any other node are refused.
  nodeId: string;
  listenHost: string;
  listenPort: number;
  // Holds AGENT_TLS_FILES. Paths may be absolute or relative to the config file's folder.
  tlsDir: string;
  // labels.json, nonces.json: the agent's own copy of what the control plane told it.
  stateDir: string;
  // Pid files of the supervisor and its children.
  runDir: string;
  // agent.log (JSON lines).
  logDir: string;
  // The user's Podman REST socket (a path, not a unix:// URL).
  podmanSocket: string;
  // Jobs the no-systemd supervisor keeps alive beside the agent; [] under systemd.
  manageJobs: ManagedJob[];
  // pino level; 'info' when absent.
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  // Where the node's Caddy serves HTTP ("host:port" or ":port"); DEFAULT_INGRESS_HTTP_LISTEN
  // when absent. Tests use "127.0.0.1:<free port>".
  ingressHttpListen?: string;
  // Where the node's Caddy serves HTTPS; "" for none (plain HTTP only, no certificates). When
  // absent: DEFAULT_INGRESS_HTTPS_LISTEN if ingressHttpListen is absent too (a node), else none
  // (a config that moves HTTP off :80, as tests do, says where HTTPS goes).
  ingressHttpsListen?: string;
  // The caddy executable the agent runs: a name looked up in PATH or an absolute path;
  // DEFAULT_CADDY_BINARY (then CADDY_FALLBACK_BINARY) when absent.
  caddyBinary?: string;
  // The node's secrets key (32 bytes, base64): opens what the control plane sealed for this node
  // (proto/node-seal.ts). Absent on nodes onboarded before secrets existed.
  secretsKey?: string;
  // The node's nats-server (JetStream), run and supervised by the agent on loopback. Absent on
  // nodes onboarded before events existed: the agent then keeps its events in memory only.
  nats?: AgentNatsConfig;
}

export interface AgentNatsConfig {
  // Loopback client port; DEFAULT_NATS_PORT when absent.
  port?: number;
  // The nats-server executable: a name in PATH or an absolute path; DEFAULT_NATS_BINARY when absent.
  binary?: string;
  // The agent's nkey seed (S...): it publishes events and manages the streams.
  agentSeed: string;
  // The control plane's nkey public key (U...): it may only read the streams and ack.
  controlPlaneNkey: string;
  // Overrides of STREAM_LIMITS (proto/node-events.ts), for small nodes and tests.
  eventsMaxMsgs?: number;
  eventsMaxBytes?: number;
}

export const DEFAULT_NATS_PORT = 14222;
export const DEFAULT_NATS_BINARY = 'nats-server';

export const DEFAULT_INGRESS_HTTP_LISTEN = ':80';
export const DEFAULT_INGRESS_HTTPS_LISTEN = ':443';
export const DEFAULT_CADDY_BINARY = 'caddy';
export const CADDY_FALLBACK_BINARY = '/usr/bin/caddy';

export const AGENT_TLS_FILES = {
  ca: 'ca.pem',
  cert: 'agent.pem',
  key: 'agent-key.pem',
  // The control plane's Ed25519 command-signing public key, SPKI PEM.
  signingKey: 'control-plane-signing.pub',
} as const;

export const AGENT_LOG_FILE = 'agent.log';
export const AGENT_PID_FILES = {
  supervisor: 'supervisor.pid',
  agent: 'agent.pid',
  podman: 'podman.pid',
  // The node's Caddy, a child of the agent (`run`).
  caddy: 'caddy.pid',
  // The node's nats-server, a child of the agent (`run`).
  nats: 'nats.pid',
} as const;
