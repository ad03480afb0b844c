// The node's nats-server configuration, written by the agent before every start: loopback only,
// no monitoring port, JetStream with a file store sized for the PodPloy streams, and two nkey
// users. The agent may publish events and use the JetStream API; the control plane may only read
// the PodPloy streams through its durable consumers and ack what it stored.
import { nkeys } from '@nats-io/transport-node';
import { DEFAULT_NATS_PORT, type AgentNatsConfig } from '../../proto/agent-config';
import { CONTROL_PLANE_CONSUMER, EVENTS_STREAM, METRICS_STREAM, STREAM_LIMITS } from '../../proto/node-events';

// The agent's request inboxes, apart from the control plane's (the client default "_INBOX"), so
// neither can read the other's replies.
export const AGENT_INBOX_PREFIX = '_INBOX_podploy_agent';
export const CONTROL_PLANE_INBOX_PREFIX = '_INBOX';
// Room in the file store beyond the streams' own byte limits (JetStream's indexes and the
// consumers' state).
export const FILE_STORE_HEADROOM_BYTES = 64 * 1024 * 1024;
// Nothing PodPloy keeps in memory streams; the JetStream API needs none either.
export const MAX_MEMORY_STORE_BYTES = 16 * 1024 * 1024;

export interface StreamLimits {
  eventsMaxMsgs: number;
  eventsMaxBytes: number;
  metricsMaxMsgs: number;
  metricsMaxBytes: number;
  maxAgeMs: number;
}

export function streamLimitsOf(nats: Pick<AgentNatsConfig, 'eventsMaxMsgs' | 'eventsMaxBytes'>): StreamLimits {
  return {
    eventsMaxMsgs: nats.eventsMaxMsgs ?? STREAM_LIMITS.eventsMaxMsgs,
    eventsMaxBytes: nats.eventsMaxBytes ?? STREAM_LIMITS.eventsMaxBytes,
    metricsMaxMsgs: STREAM_LIMITS.metricsMaxMsgs,
    metricsMaxBytes: STREAM_LIMITS.metricsMaxBytes,
    maxAgeMs: STREAM_LIMITS.maxAgeMs,
  };
}

export function natsPortOf(nats: Pick<AgentNatsConfig, 'port'>): number {
  return nats.port ?? DEFAULT_NATS_PORT;
}

// The agent's public nkey (U...) from its seed (S...); throws a clear error for a bad seed.
export function agentPublicKey(agentSeed: string): string {
  let key = '';
  try {
    key = nkeys.fromSeed(new TextEncoder().encode(agentSeed)).getPublicKey();
  } catch (err) {
    throw new Error(`nats.agentSeed in the agent config is not an nkey seed (${(err as Error).message}); re-run onboarding for this node to rewrite it`);
  }
  if (!key.startsWith('U')) throw new Error('nats.agentSeed in the agent config is not a user nkey seed (SU...); re-run onboarding for this node to rewrite it');
  return key;
}

export function checkUserPublicKey(key: string, what: string): string {
  let valid = key.startsWith('U');
  try {
    nkeys.fromPublic(key);
  } catch {
    valid = false;
  }
  if (!valid) throw new Error(`${what} "${key}" is not an nkey user public key (U...); re-run onboarding for this node to rewrite it`);
  return key;
}

// The subjects the control plane's user may publish to: JetStream API calls that read the two
// streams through its own durable consumer, and the acks of what it stored.
export function controlPlanePublishAllow(): string[] {
  const c = CONTROL_PLANE_CONSUMER;
  return [
    '$JS.API.INFO',
    ...[EVENTS_STREAM, METRICS_STREAM].flatMap((s) => [
      `$JS.API.STREAM.INFO.${s}`,
      `$JS.API.CONSUMER.CREATE.${s}.${c}`,
      `$JS.API.CONSUMER.CREATE.${s}.${c}.>`,
      `$JS.API.CONSUMER.DURABLE.CREATE.${s}.${c}`,
      `$JS.API.CONSUMER.INFO.${s}.${c}`,
      `$JS.API.CONSUMER.MSG.NEXT.${s}.${c}`,
      `$JS.ACK.${s}.${c}.>`,
    ]),
  ];
}

export interface NatsServerConfigInput {
  port: number;
  storeDir: string;
  agentPublicKey: string;
  controlPlaneNkey: string;
  limits: StreamLimits;
}

export function natsServerConfig(c: NatsServerConfigInput): string {
  const list = (items: string[]) => `[${items.map((s) => JSON.stringify(s)).join(', ')}]`;
  const maxFileStore = c.limits.eventsMaxBytes + c.limits.metricsMaxBytes + FILE_STORE_HEADROOM_BYTES;
  return `# Written by the PodPloy agent at every start of nats-server; edits are overwritten.
listen: ${JSON.stringify(`127.0.0.1:${c.port}`)}
jetstream {
  store_dir: ${JSON.stringify(c.storeDir)}
  max_file_store: ${maxFileStore}
  max_memory_store: ${MAX_MEMORY_STORE_BYTES}
}
authorization {
  users: [
    {
      nkey: ${JSON.stringify(c.agentPublicKey)}
      permissions: {
        publish: { allow: ${list(['podploy.>', '$JS.API.>'])} }
        subscribe: { allow: ${list([`${AGENT_INBOX_PREFIX}.>`])} }
      }
    }
    {
      nkey: ${JSON.stringify(c.controlPlaneNkey)}
      permissions: {
        publish: { allow: ${list(controlPlanePublishAllow())} }
        subscribe: { allow: ${list([`${CONTROL_PLANE_INBOX_PREFIX}.>`])} }
      }
    }
  ]
}
`;
}
