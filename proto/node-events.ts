// The events a node publishes to its JetStream and the control plane stores. Pure wire
// contract: the agent writes these, the control plane reads them.

// One JetStream stream per kind of data on each node's nats-server.
export const EVENTS_STREAM = 'PODPLOY_EVENTS';
export const METRICS_STREAM = 'PODPLOY_METRICS';
// podploy.events.<kind with dots>; podploy.metrics.<app>
export const EVENTS_SUBJECT_PREFIX = 'podploy.events';
export const METRICS_SUBJECT_PREFIX = 'podploy.metrics';
// The control plane's durable consumer on every node.
export const CONTROL_PLANE_CONSUMER = 'podploy-control-plane';

// Sized for a week offline on a small node; the oldest messages go first when a limit is hit.
export const STREAM_LIMITS = {
  maxAgeMs: 8 * 24 * 3_600_000,
  eventsMaxBytes: 256 * 1024 * 1024,
  eventsMaxMsgs: 2_000_000,
  metricsMaxBytes: 512 * 1024 * 1024,
  metricsMaxMsgs: 2_000_000,
} as const;

// Every kind a node emits. Dots only; the subject is EVENTS_SUBJECT_PREFIX + '.' + kind.
export const NODE_EVENT_KINDS = [
  'container.started',
  'container.died',
  'container.oom',
  'container.removed',
  'container.recreated',
  'probe.failing',
  'probe.passing',
  'restart.scheduled',
  'restart.done',
  'restart.failed',
  'crashloop.entered',
  'crashloop.left',
  'app.stopped',
  'app.started',
  'deploy.step',
  'agent.started',
  'agent.warning',
  'terminal.opened',
  'terminal.closed',
  // data: { runId, policyId, trigger, attempt } and, when ended, { plainBytes, sealedBytes,
  // durationMs, sha256, copies (JSON of BackupCopy[]), error }
  'backup.started',
  'backup.done',
  'backup.failed',
  // data: { runId, policyId, reason (keep rules), destinations }
  'backup.pruned',
  'restore.done',
  'restore.failed',
] as const;
export type NodeEventKind = (typeof NODE_EVENT_KINDS)[number];

export type EventSeverity = 'info' | 'warning' | 'error';

// What a part of the agent reports; the publisher adds id, node, seq and time.
export interface NodeEventInput {
  kind: NodeEventKind;
  severity?: EventSeverity;
  app?: string;
  container?: string;
  release?: string;
  message: string;
  // Kind-specific figures, e.g. { delayMs, attempt } for restart.scheduled, { exitCode } for
  // container.died, { restarts } for crashloop.entered.
  data?: Record<string, string | number | boolean | null>;
}

export interface NodeEvent extends Required<Pick<NodeEventInput, 'kind' | 'message'>> {
  // Unique across the fleet (the JetStream Nats-Msg-Id and the control plane's primary key).
  id: string;
  node: string;
  // The agent's own order: strictly increasing per node, across agent restarts.
  seq: number;
  // When it happened, ms since the epoch.
  atMs: number;
  severity: EventSeverity;
  app?: string;
  container?: string;
  release?: string;
  data?: NodeEventInput['data'];
}

export interface MetricsSample {
  id: string;
  node: string;
  atMs: number;
  app: string;
  container: string;
  release?: string;
  cpuPercent: number;
  memBytes: number;
  memLimitBytes: number;
  restarts: number;
}

// What every emitter in the agent writes to; the NATS publisher is the real one.
export interface NodeEventSink {
  emit(event: NodeEventInput): void;
}

export function eventSubject(kind: NodeEventKind): string {
  return `${EVENTS_SUBJECT_PREFIX}.${kind}`;
}

export function metricsSubject(app: string): string {
  return `${METRICS_SUBJECT_PREFIX}.${app}`;
}
