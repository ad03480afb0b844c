// The one API contract. Pure: zod only, no Node, no Electron, no DOM. The renderer, the
// preload, the CLI and `podploy serve` all import these definitions; an operation is declared
// here once and every transport carries it.
import { z } from 'zod';
import { AppName, AppSpec, ImageRef } from './app-spec';
import { isRegistryHost, normalizeRegistry } from '../../proto/image-ref';
import { HTTP_REDIRECT_MODES } from '../../proto/ingress-tls';
import { BACKUP_DEFAULTS, MAX_RETRY_ATTEMPTS, MAX_RETRY_DELAY_MS } from '../../proto/backup-defaults';
import { MAX_RETENTION_COUNT } from '../../proto/backup-retention';
import { MAX_RECORDING_RETENTION_DAYS, TERMINAL_DEFAULTS, TERMINAL_LIMITS } from '../../proto/terminal-defaults';

export * from './app-spec';

export const NodeStatus = z.enum(['online', 'offline']);
export type NodeStatus = z.infer<typeof NodeStatus>;

export const Facts = z.object({
  hostname: z.string(),
  osId: z.string(),
  osVersion: z.string(),
  osPrettyName: z.string(),
  arch: z.string(),
  kernel: z.string(),
  cgroupsVersion: z.number().int(),
  podmanVersion: z.string(),
  rootlessReady: z.boolean(),
  systemd: z.boolean(),
  nodeVersion: z.string(),
  diskTotalBytes: z.number(),
  diskFreeBytes: z.number(),
  memTotalBytes: z.number(),
  memFreeBytes: z.number(),
  cpuCount: z.number().int(),
  user: z.string(),
});
export type Facts = z.infer<typeof Facts>;

export const Usage = z.object({
  atMs: z.number(),
  cpuPercent: z.number(),
  memUsedBytes: z.number(),
  memTotalBytes: z.number(),
  diskUsedBytes: z.number(),
  diskTotalBytes: z.number(),
  containerCount: z.number().int(),
  containersRunning: z.number().int(),
  load1: z.number(),
  agentRssBytes: z.number(),
});
export type Usage = z.infer<typeof Usage>;

export const NodeSummary = z.object({
  id: z.string(),
  name: z.string(),
  address: z.string(), // ssh://user@host:port
  status: NodeStatus,
  lastSeenAt: z.number().nullable(),
  serviceMode: z.enum(['systemd', 'supervisor']),
  agentVersion: z.string(),
  hostKeyFingerprint: z.string(),
  facts: Facts.nullable(),
  usage: Usage.nullable(),
  labels: z.record(z.string(), z.string()),
  createdAt: z.number(),
});
export type NodeSummary = z.infer<typeof NodeSummary>;

export const NodeName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a node name is 1-63 lowercase letters, digits or dashes, not starting or ending with a dash');

export const OnboardStepId = z.enum(['connect', 'detect', 'install', 'podman-socket', 'upload', 'service', 'handshake']);
export type OnboardStepId = z.infer<typeof OnboardStepId>;

export const OnboardStepState = z.enum(['running', 'done', 'unchanged', 'skipped', 'failed']);

export const OnboardProgress = z.object({
  step: OnboardStepId,
  index: z.number().int(), // 1-based
  total: z.number().int(),
  state: OnboardStepState,
  message: z.string(),
  durationMs: z.number().optional(),
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type OnboardProgress = z.infer<typeof OnboardProgress>;

export const SshAuth = z.union([
  z.object({ kind: z.literal('key'), privateKey: z.string().min(1), passphrase: z.string().optional() }),
  z.object({ kind: z.literal('password'), password: z.string().min(1) }),
  z.object({ kind: z.literal('agent') }),
]);
export type SshAuth = z.infer<typeof SshAuth>;

export const AddNodeInput = z.object({
  address: z.string().min(1), // ssh://USER@HOST[:PORT]
  name: NodeName.optional(),
  auth: SshAuth,
  // Consent to install missing packages with sudo.
  install: z.boolean().default(false),
  // The host key fingerprint the operator confirmed (SHA256:...). Absent: trust on first use
  // only when acceptNewHostKey is set.
  expectedFingerprint: z.string().optional(),
  acceptNewHostKey: z.boolean().default(false),
});
export type AddNodeInput = z.input<typeof AddNodeInput>;

export const ProbeHostInput = z.object({ address: z.string().min(1), auth: SshAuth });
export const ProbeHostOutput = z.object({
  host: z.string(),
  port: z.number(),
  user: z.string(),
  fingerprint: z.string(),
  keyType: z.string(),
  known: z.enum(['new', 'pinned', 'changed']),
});

export const AddNodeOutput = z.object({ node: NodeSummary, changed: z.boolean() });

export const AuditEntry = z.object({
  id: z.number().int(),
  at: z.number(),
  actor: z.string(),
  source: z.string(),
  action: z.string(),
  target: z.string(),
  result: z.enum(['ok', 'error']),
  detail: z.string(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const ReleaseSummary = z.object({
  id: z.string(),
  number: z.number().int(),
  imageRef: z.string(),
  imageDigest: z.string().nullable(),
  // The app's secrets version this release runs with (0: none); a rollback brings it back.
  secretVersion: z.number().int(),
  status: z.enum(['pending', 'deploying', 'live', 'failed', 'superseded']),
  failedStep: z.string().nullable(),
  reason: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.number(),
  finishedAt: z.number().nullable(),
});
export type ReleaseSummary = z.infer<typeof ReleaseSummary>;

export const AppSummary = z.object({
  id: z.string(),
  name: z.string(),
  node: z.string(),
  spec: AppSpec,
  createdAt: z.number(),
  updatedAt: z.number(),
  currentRelease: ReleaseSummary.nullable(),
});
export type AppSummary = z.infer<typeof AppSummary>;

export const DeployProgress = z.object({
  release: z.number().int(),
  step: z.number().int(), // 1..6
  total: z.number().int(),
  name: z.string(), // image, start, health, switch, drain, stop
  state: z.enum(['running', 'done', 'failed']),
  message: z.string(),
  durationMs: z.number().optional(),
});
export type DeployProgress = z.infer<typeof DeployProgress>;

// Secrets are write-only: the API takes values and gives back names and versions, never values.
export const SecretsSummary = z.object({
  app: z.string(),
  // Grows by one with every change; a release records the version it deployed.
  version: z.number().int(),
  secrets: z.array(z.object({ name: z.string(), updatedAt: z.number(), updatedBy: z.string() })),
});
export type SecretsSummary = z.infer<typeof SecretsSummary>;

export const LogsInput = z.object({
  name: AppName,
  follow: z.boolean().default(false),
  // The last N lines of the history (0 with follow: only new lines). Absent: all of it.
  tail: z.number().int().min(0).max(1_000_000).optional(),
  // A duration back from now ("10m", "2h", "30s") or an ISO 8601 time.
  since: z.string().optional(),
  release: z.number().int().min(1).optional(),
});
export type LogsInput = z.input<typeof LogsInput>;

export const LogLine = z.object({
  at: z.number(), // ms since the epoch (Podman records whole seconds)
  stream: z.enum(['stdout', 'stderr']),
  line: z.string(),
  release: z.number().int().optional(),
});
export type LogLine = z.infer<typeof LogLine>;

// Lines arrive in chunks (as the node read them). A notice is about the stream itself, e.g. a
// deploy replaced the followed container and the stream goes on with the new release.
export const LogChunk = z.object({ lines: z.array(LogLine), notice: z.string().optional() });
export type LogChunk = z.infer<typeof LogChunk>;

export const ContainerSummary = z.object({
  app: z.string(),
  node: z.string(),
  release: z.number().int().optional(),
  slot: z.string(),
  name: z.string(),
  image: z.string(),
  imageDigest: z.string().optional(),
  state: z.string(),
  startedAt: z.number().optional(),
  exitCode: z.number().int().optional(),
  serving: z.boolean(),
});
export type ContainerSummary = z.infer<typeof ContainerSummary>;

export const Session = z.object({ user: z.string(), source: z.string(), version: z.string() });

// Private registry credentials (docker-login style), write-only: a listing never has the password.
export const RegistryServer = z
  .string()
  .min(1)
  .transform((s) => normalizeRegistry(s))
  .refine(isRegistryHost, 'a registry is host or host:port (e.g. registry.example.com or 127.0.0.1:5000)');
export const RegistrySummary = z.object({
  server: z.string(),
  username: z.string(),
  insecure: z.boolean(),
  loggedInAt: z.number(),
  loggedInBy: z.string(),
});
export type RegistrySummary = z.infer<typeof RegistrySummary>;

// The control plane's TLS settings for every node's Caddy (defaults: proto/ingress-tls.ts).
export const HttpRedirectMode = z.enum(HTTP_REDIRECT_MODES);
export type HttpRedirectMode = z.infer<typeof HttpRedirectMode>;
export const TlsSettings = z.object({
  acmeDirectory: z.string(),
  acmeEmail: z.string(),
  // SHA-256 fingerprint and subject of the extra root for the ACME server; null: system roots.
  acmeCaRoot: z.object({ sha256: z.string(), subject: z.string() }).nullable(),
  httpRedirect: HttpRedirectMode,
});
export type TlsSettings = z.infer<typeof TlsSettings>;
// Each field left out keeps its value; "" clears the email or the extra root.
export const SetTlsInput = z.object({
  acmeDirectory: z.string().optional(),
  acmeEmail: z.string().optional(),
  acmeCaRootPem: z.string().optional(),
  httpRedirect: HttpRedirectMode.optional(),
});
export const TlsPush = z.object({ node: z.string(), ok: z.boolean(), message: z.string() });
export type TlsPush = z.infer<typeof TlsPush>;

// Every operation: its input, its output and, for long work, the shape of its progress.
// Node events (proto/node-events.ts) as the control plane stored them.
export const NodeEventSummary = z.object({
  id: z.string(),
  node: z.string(),
  seq: z.number().int(),
  atMs: z.number(),
  receivedAtMs: z.number(),
  kind: z.string(),
  severity: z.enum(['info', 'warning', 'error']),
  app: z.string().nullable(),
  container: z.string().nullable(),
  release: z.string().nullable(),
  message: z.string(),
  data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).nullable(),
});
export type NodeEventSummary = z.infer<typeof NodeEventSummary>;

export const MetricsPoint = z.object({
  node: z.string(),
  app: z.string(),
  container: z.string(),
  atMs: z.number(),
  cpuPercent: z.number(),
  memBytes: z.number(),
  memLimitBytes: z.number(),
  restarts: z.number().int(),
});
export type MetricsPoint = z.infer<typeof MetricsPoint>;

// What Lazarus last reported about an app, folded from its events.
export const AppRuntime = z.object({
  app: z.string(),
  node: z.string(),
  // running: up; restarting: a restart is scheduled or under way; stopped: on purpose;
  // unknown: no event yet.
  state: z.enum(['running', 'restarting', 'crash-looping', 'stopped', 'unknown']),
  crashLooping: z.boolean(),
  // Restarts Lazarus made since the app's last deploy.
  restarts: z.number().int(),
  lastRestartAtMs: z.number().nullable(),
  lastEventAtMs: z.number().nullable(),
  probe: z.enum(['passing', 'failing', 'none']),
});
export type AppRuntime = z.infer<typeof AppRuntime>;

// The control plane's link to one node's event stream.
export const EventLinkStatus = z.object({
  node: z.string(),
  connected: z.boolean(),
  // Stored events from this node, and the node's last stream sequence stored.
  stored: z.number().int(),
  lastStreamSeq: z.number().int(),
  lastEventAtMs: z.number().nullable(),
  // Events the node's stream dropped before the control plane read them (its limit was hit).
  lost: z.number().int(),
  error: z.string().nullable(),
});
export type EventLinkStatus = z.infer<typeof EventLinkStatus>;

export const EventsQuery = z.object({
  node: z.string().optional(),
  app: AppName.optional(),
  kinds: z.array(z.string()).optional(),
  sinceMs: z.number().optional(),
  limit: z.number().int().min(1).max(10_000).default(200),
  // Paging back: events strictly older (in the node's order) than this stored event id.
  before: z.string().optional(),
});

// Terminals: a shell or command in an app's live container, or a shell on a node as the agent's
// user. Every session is recorded (asciicast v2, sealed) and gets an audit row when it ends.
export const TerminalTarget = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('app'), app: AppName, release: z.number().int().min(1).optional() }),
  z.object({ kind: z.literal('node'), node: z.string().min(1) }),
]);
export type TerminalTarget = z.infer<typeof TerminalTarget>;
const TerminalCols = z.number().int().min(TERMINAL_LIMITS.minCols).max(TERMINAL_LIMITS.maxCols);
const TerminalRows = z.number().int().min(TERMINAL_LIMITS.minRows).max(TERMINAL_LIMITS.maxRows);
export const TerminalOpenInput = z.object({
  target: TerminalTarget,
  // Empty: an interactive login shell.
  command: z.array(z.string()).max(TERMINAL_LIMITS.maxCommandArgs).default([]),
  // false: no terminal on the remote side; stdout and stderr come back apart (`podploy exec` without -t).
  tty: z.boolean().default(true),
  cols: TerminalCols.default(TERMINAL_DEFAULTS.cols),
  rows: TerminalRows.default(TERMINAL_DEFAULTS.rows),
});
export type TerminalOpenInput = z.input<typeof TerminalOpenInput>;

// What terminal.open streams while the session runs: first `opened`, then output. Every output's
// data.length counts toward flow control (terminal.ack).
export const TerminalEvent = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('opened'),
    session: z.string(),
    node: z.string(),
    app: z.string().nullable(),
    container: z.string(),
    command: z.array(z.string()),
    user: z.string(),
    // Shown to the operator before anything else: the session is recorded.
    banner: z.string(),
  }),
  z.object({ kind: z.literal('output'), data: z.string() }),
  z.object({ kind: z.literal('stderr'), data: z.string() }),
]);
export type TerminalEvent = z.infer<typeof TerminalEvent>;

export const RecordingState = z.enum(['live', 'ended', 'interrupted']);
export const RecordingSummary = z.object({
  id: z.string(),
  actor: z.string(),
  source: z.string(), // desktop, browser, cli
  node: z.string(), // the node's name when the session ran
  app: z.string().nullable(),
  container: z.string(), // "" for a node shell
  command: z.array(z.string()),
  tty: z.boolean(),
  cols: z.number().int(),
  rows: z.number().int(),
  startedAt: z.number(),
  endedAt: z.number().nullable(),
  durationMs: z.number().nullable(),
  exitCode: z.number().int().nullable(),
  // Why it ended: "exited", "closed by the operator", "the agent connection broke", ...
  endReason: z.string().nullable(),
  // live: running now; ended: closed properly; interrupted: the control plane stopped during the
  // session, and the recording holds everything up to its last sealed chunk.
  state: RecordingState,
  // The sealed file on disk.
  bytes: z.number().int(),
  inputBytes: z.number().int(),
  outputBytes: z.number().int(),
});
export type RecordingSummary = z.infer<typeof RecordingSummary>;

export const TerminalResult = z.object({
  session: z.string(),
  exitCode: z.number().int().nullable(),
  reason: z.string(),
  recording: RecordingSummary,
});
export type TerminalResult = z.infer<typeof TerminalResult>;

export const RecordingsQuery = z.object({
  node: z.string().optional(),
  app: AppName.optional(),
  actor: z.string().optional(),
  sinceMs: z.number().optional(),
  untilMs: z.number().optional(),
  limit: z.number().int().min(1).max(10_000).default(200),
});

// A recording read back: the asciicast v2 text arrives as progress chunks (in order); the result
// says whether every chunk verified. A tampered, reordered or wrong-key file fails the call
// (code "integrity") after no chunk past the damage was sent.
export const RecordingChunk = z.object({ text: z.string() });
export const RecordingReadResult = z.object({
  recording: RecordingSummary,
  chars: z.number().int(),
  // The file ends before its final chunk (the control plane stopped mid-session): everything
  // up to the last sealed chunk was read and verified.
  truncated: z.boolean(),
});

export const RetentionSettings = z.object({ days: z.number().int().min(0).max(MAX_RECORDING_RETENTION_DAYS) });

// Backups. A destination is where runs go (its secret settings are write-only); a policy says
// what (an app's volume or database, or PodPloy's own state), when (cron), where and how long.
export const DestinationName = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a destination name is 1-63 lowercase letters, digits or dashes');
export const DestinationInput = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('local'), name: DestinationName, path: z.string().min(1) }),
  z.object({
    kind: z.literal('s3'),
    name: DestinationName,
    endpoint: z.string().url().optional(),
    region: z.string().optional(),
    bucket: z.string().min(1),
    prefix: z.string().optional(),
    forcePathStyle: z.boolean().optional(),
    accessKeyId: z.string().min(1),
    secretAccessKey: z.string().min(1),
  }),
  z.object({
    kind: z.literal('sftp'),
    name: DestinationName,
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1),
    folder: z.string().min(1),
    hostKeyFingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'the host key fingerprint is SHA256:... as ssh-keygen -lf prints it'),
    privateKey: z.string().optional(),
    passphrase: z.string().optional(),
    password: z.string().optional(),
  }),
]);
export type DestinationInput = z.input<typeof DestinationInput>;
export const DestinationSummary = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(['local', 's3', 'sftp']),
  // The non-secret settings; secret ones are listed by name only.
  settings: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  secrets: z.array(z.string()),
  where: z.string(),
  createdAt: z.number(),
  createdBy: z.string(),
});
export type DestinationSummary = z.infer<typeof DestinationSummary>;

export const BackupSourceInput = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('volume'), volume: z.string().min(1), consistency: z.enum(['live', 'pause']).default(BACKUP_DEFAULTS.consistency) }),
  z.object({ kind: z.literal('postgres'), database: z.string().min(1), user: z.string().optional(), passwordSecret: z.string().optional() }),
  z.object({ kind: z.literal('mysql'), database: z.string().min(1), user: z.string().optional(), passwordSecret: z.string().optional() }),
  z.object({ kind: z.literal('sqlite'), path: z.string().min(1) }),
  // PodPloy's own SQLite state (nodes, apps, releases, sealed secrets), backed up by the control plane.
  z.object({ kind: z.literal('control-plane') }),
]);
export type BackupSourceInput = z.input<typeof BackupSourceInput>;
const RetentionCount = z.number().int().min(0).max(MAX_RETENTION_COUNT);
export const BackupRetentionInput = z.object({
  last: RetentionCount.default(BACKUP_DEFAULTS.retention.last),
  daily: RetentionCount.default(BACKUP_DEFAULTS.retention.daily),
  weekly: RetentionCount.default(BACKUP_DEFAULTS.retention.weekly),
  monthly: RetentionCount.default(BACKUP_DEFAULTS.retention.monthly),
});
export const PolicyName = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a policy name is 1-63 lowercase letters, digits or dashes');
export const BackupPolicyInput = z.object({
  name: PolicyName,
  // The app whose volume or database is backed up; absent for the control-plane source.
  app: AppName.optional(),
  source: BackupSourceInput,
  schedules: z.array(z.string().min(1)).default([...BACKUP_DEFAULTS.schedules]),
  timezone: z.string().default(BACKUP_DEFAULTS.timezone),
  destinations: z.array(DestinationName).min(1),
  retention: BackupRetentionInput.default({ ...BACKUP_DEFAULTS.retention }),
  retryAttempts: z.number().int().min(0).max(MAX_RETRY_ATTEMPTS).default(BACKUP_DEFAULTS.retryAttempts),
  retryDelayMs: z.number().int().min(1_000).max(MAX_RETRY_DELAY_MS).default(BACKUP_DEFAULTS.retryDelayMs),
  enabled: z.boolean().default(true),
});
export type BackupPolicyInput = z.input<typeof BackupPolicyInput>;

export const BackupCopySummary = z.object({ destination: z.string(), ok: z.boolean(), error: z.string().nullable() });
export const BackupRunSummary = z.object({
  id: z.string(),
  policy: z.string(),
  app: z.string().nullable(),
  node: z.string().nullable(), // null: the control plane's own state
  sourceKind: z.string(),
  trigger: z.enum(['schedule', 'manual', 'retry']),
  attempt: z.number().int(),
  startedAt: z.number(),
  finishedAt: z.number().nullable(),
  status: z.enum(['running', 'ok', 'failed', 'pruned']),
  plainBytes: z.number(),
  sealedBytes: z.number(),
  sha256: z.string().nullable(),
  copies: z.array(BackupCopySummary),
  error: z.string().nullable(),
});
export type BackupRunSummary = z.infer<typeof BackupRunSummary>;

export const BackupPolicySummary = z.object({
  id: z.string(),
  name: z.string(),
  app: z.string().nullable(),
  node: z.string().nullable(),
  source: BackupSourceInput,
  schedules: z.array(z.string()),
  timezone: z.string(),
  destinations: z.array(z.string()),
  retention: z.object({ last: z.number().int(), daily: z.number().int(), weekly: z.number().int(), monthly: z.number().int() }),
  retryAttempts: z.number().int(),
  retryDelayMs: z.number().int(),
  enabled: z.boolean(),
  nextRuns: z.array(z.number()),
  lastRun: BackupRunSummary.nullable(),
  // Whether the node holds this version of the policy (it runs schedules by itself).
  pushed: z.boolean(),
  pushError: z.string().nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type BackupPolicySummary = z.infer<typeof BackupPolicySummary>;

export const BackupProgressEvent = z.object({
  phase: z.string(),
  plainBytes: z.number(),
  sealedBytes: z.number(),
  message: z.string(),
});
export type BackupProgressEvent = z.infer<typeof BackupProgressEvent>;

export const RestoreInput = z.object({
  run: z.string().min(1),
  // Which copy to read; absent: the first destination that holds it.
  destination: DestinationName.optional(),
  // new (default): into a new volume or database named `target`; over: the app's own, after
  // confirmation (the app is stopped, restored and redeployed through the zero-downtime path).
  mode: z.enum(['new', 'over']).default('new'),
  target: z.string().optional(),
  confirm: z.boolean().default(false),
  // Restores the run into another app (same source kind), e.g. a staging copy.
  into: AppName.optional(),
});
export type RestoreInput = z.input<typeof RestoreInput>;
export const RestoreResult = z.object({
  run: z.string(),
  mode: z.enum(['new', 'over']),
  target: z.string(),
  plainBytes: z.number(),
  sha256: z.string(),
  durationMs: z.number(),
});

export const procedures = {
  'session.whoami': { input: z.object({}), output: Session },
  'nodes.list': { input: z.object({}), output: z.array(NodeSummary) },
  'nodes.get': { input: z.object({ name: z.string().min(1) }), output: NodeSummary },
  'nodes.probe': { input: ProbeHostInput, output: ProbeHostOutput },
  'nodes.add': { input: AddNodeInput, output: AddNodeOutput, progress: OnboardProgress },
  'nodes.remove': {
    input: z.object({ name: z.string().min(1), removeContainers: z.boolean().default(false) }),
    output: z.object({ removed: z.string(), steps: z.array(z.string()) }),
  },
  'nodes.setLabels': {
    input: z.object({ name: z.string().min(1), labels: z.record(z.string(), z.string()) }),
    output: NodeSummary,
  },
  'apps.create': { input: z.object({ spec: AppSpec }), output: AppSummary },
  'apps.list': { input: z.object({}), output: z.array(AppSummary) },
  'apps.get': { input: z.object({ name: AppName }), output: AppSummary },
  'apps.releases': { input: z.object({ name: AppName }), output: z.array(ReleaseSummary) },
  'apps.deploy': {
    input: z.object({ name: AppName, image: ImageRef.optional() }),
    output: ReleaseSummary,
    progress: DeployProgress,
  },
  'apps.rollback': {
    input: z.object({ name: AppName, to: z.number().int().min(1).optional() }),
    output: ReleaseSummary,
    progress: DeployProgress,
  },
  // An app with releases is removed from its node first (its node must be online); its named
  // volumes go only with removeVolumes.
  'apps.delete': {
    input: z.object({ name: AppName, removeVolumes: z.boolean().default(false) }),
    output: z.object({ deleted: z.string(), node: z.string().nullable(), removedFromNode: z.string().nullable() }),
  },
  // Replaces the app's configuration (not its name or node); the next deploy uses it. `name`
  // (default: spec.name) is the app to change, so a renamed spec is refused, not a lookup miss.
  'apps.update': { input: z.object({ name: AppName.optional(), spec: AppSpec }), output: AppSummary },
  // Follows while `follow` is set, until the caller cancels (ApiClient.stream); the lines arrive
  // as progress, in chunks. The output counts them.
  'apps.logs': { input: LogsInput, output: z.object({ lines: z.number().int() }), progress: LogChunk },
  'apps.ps': { input: z.object({ name: AppName.optional() }), output: z.array(ContainerSummary) },
  'secrets.set': {
    input: z.object({ app: AppName, values: z.record(z.string(), z.string()) }),
    output: SecretsSummary,
  },
  'secrets.unset': { input: z.object({ app: AppName, names: z.array(z.string()).min(1) }), output: SecretsSummary },
  'secrets.list': { input: z.object({ app: AppName }), output: SecretsSummary },
  'tls.get': { input: z.object({}), output: TlsSettings },
  // Stores the settings and pushes them to every node; a node that could not take them is
  // listed with the reason (run tls set again once it is online; onboarding sends them too).
  'tls.set': { input: SetTlsInput, output: z.object({ settings: TlsSettings, nodes: z.array(TlsPush) }) },
  'registries.login': {
    input: z.object({
      server: RegistryServer,
      username: z.string().min(1, 'a username is required'),
      password: z.string().min(1, 'a password is required'),
      // Pull over plain HTTP or without verifying the registry's certificate.
      insecure: z.boolean().default(false),
    }),
    output: RegistrySummary.extend({ replaced: z.boolean() }),
  },
  'registries.list': { input: z.object({}), output: z.array(RegistrySummary) },
  'registries.logout': { input: z.object({ server: RegistryServer }), output: z.object({ server: z.string() }) },
  'audit.list': {
    input: z.object({ limit: z.number().int().min(1).max(1000).default(200), beforeId: z.number().int().optional() }),
    output: z.array(AuditEntry),
  },
  // Stopped on purpose: Lazarus leaves the app's container stopped (also across agent restarts)
  // until apps.start.
  'apps.stop': { input: z.object({ name: AppName }), output: AppSummary },
  'apps.start': { input: z.object({ name: AppName }), output: AppSummary },
  'apps.runtime': { input: z.object({ name: AppName.optional() }), output: z.array(AppRuntime) },
  // Newest first.
  'events.list': { input: EventsQuery, output: z.array(NodeEventSummary) },
  // Oldest first, for charts.
  'events.metrics': {
    input: z.object({ app: AppName, sinceMs: z.number().optional(), limit: z.number().int().min(1).max(50_000).default(2_000) }),
    output: z.array(MetricsPoint),
  },
  'events.links': { input: z.object({}), output: z.array(EventLinkStatus) },
  // Runs until the remote process exits or the caller cancels (cancel = close the session).
  'terminal.open': { input: TerminalOpenInput, output: TerminalResult, progress: TerminalEvent },
  'terminal.input': {
    input: z.object({ session: z.string().min(1), data: z.string().max(TERMINAL_LIMITS.maxInputBytes) }),
    output: z.object({}),
  },
  'terminal.resize': { input: z.object({ session: z.string().min(1), cols: TerminalCols, rows: TerminalRows }), output: z.object({}) },
  // The client has shown/written this many more chars of output (flow control: TERMINAL_FLOW).
  'terminal.ack': { input: z.object({ session: z.string().min(1), chars: z.number().int().min(0) }), output: z.object({}) },
  // No more stdin for a session without a tty (`podploy exec -i` reading a pipe).
  'terminal.eof': { input: z.object({ session: z.string().min(1) }), output: z.object({}) },
  'recordings.list': { input: RecordingsQuery, output: z.array(RecordingSummary) },
  'recordings.get': { input: z.object({ id: z.string().min(1) }), output: RecordingSummary },
  'recordings.read': { input: z.object({ id: z.string().min(1) }), output: RecordingReadResult, progress: RecordingChunk },
  'recordings.delete': { input: z.object({ id: z.string().min(1) }), output: z.object({ id: z.string() }) },
  'recordings.retention': { input: z.object({}), output: RetentionSettings },
  'recordings.setRetention': { input: RetentionSettings, output: z.object({ days: z.number().int(), deleted: z.number().int() }) },
  'backups.destinations.list': { input: z.object({}), output: z.array(DestinationSummary) },
  // Adds or replaces (by name) a destination; policies using it are pushed again.
  'backups.destinations.set': { input: DestinationInput, output: DestinationSummary },
  'backups.destinations.remove': { input: z.object({ name: DestinationName }), output: z.object({ name: z.string() }) },
  // "Test connection": from the node (absent: the node of the first policy using it, else the
  // control plane itself): reach, authenticate, write, read back and delete a small object.
  'backups.destinations.test': {
    input: z.object({ name: DestinationName, node: z.string().optional() }),
    output: z.object({ ok: z.boolean(), from: z.string(), message: z.string(), durationMs: z.number() }),
  },
  'backups.policies.list': { input: z.object({ app: AppName.optional() }), output: z.array(BackupPolicySummary) },
  // Creates or replaces (by name) a policy and pushes the node's policies, signed.
  'backups.policies.set': { input: BackupPolicyInput, output: BackupPolicySummary },
  'backups.policies.remove': { input: z.object({ name: PolicyName }), output: z.object({ name: z.string() }) },
  'backups.run': { input: z.object({ policy: PolicyName }), output: BackupRunSummary, progress: BackupProgressEvent },
  'backups.runs': {
    input: z.object({ policy: PolicyName.optional(), app: AppName.optional(), limit: z.number().int().min(1).max(10_000).default(200) }),
    output: z.array(BackupRunSummary),
  },
  'backups.restore': { input: RestoreInput, output: RestoreResult, progress: BackupProgressEvent },
} as const;

// Live topics a client may subscribe to.
export const topics = {
  'apps.changed': AppSummary,
  'apps.deleted': z.object({ name: z.string() }),
  'nodes.changed': NodeSummary,
  'nodes.removed': z.object({ name: z.string() }),
  'audit.appended': AuditEntry,
  'events.appended': NodeEventSummary,
  'metrics.appended': MetricsPoint,
  'apps.runtime': AppRuntime,
  'recordings.changed': RecordingSummary,
  'recordings.deleted': z.object({ id: z.string() }),
  'backups.runs.changed': BackupRunSummary,
  'backups.policies.changed': BackupPolicySummary,
} as const;

export type Procedures = typeof procedures;
export type ProcedureName = keyof Procedures;
export type TopicName = keyof typeof topics;
export type InputOf<P extends ProcedureName> = z.input<Procedures[P]['input']>;
export type OutputOf<P extends ProcedureName> = z.output<Procedures[P]['output']>;
export type ProgressOf<P extends ProcedureName> = Procedures[P] extends { progress: infer S extends z.ZodType }
  ? z.output<S>
  : never;
export type TopicPayload<T extends TopicName> = z.output<(typeof topics)[T]>;

// Messages on the wire (WebSocket frames and IPC payloads share these shapes).
export type ClientMessage =
  | { type: 'auth'; token: string; source?: string }
  | { type: 'call'; id: number; op: ProcedureName; input: unknown }
  // Asks the server to end call `id` early (its handler sees ctx.signal abort); the call still
  // ends with its result or error. Closing the connection cancels every call in flight.
  | { type: 'cancel'; id: number }
  | { type: 'subscribe'; topic: TopicName }
  | { type: 'unsubscribe'; topic: TopicName };

export type ApiErrorShape = { code: ApiErrorCode; message: string; hint?: string };
export type ServerMessage =
  | { type: 'ready'; session: z.output<typeof Session> }
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number | null; error: ApiErrorShape }
  | { type: 'progress'; id: number; progress: unknown }
  | { type: 'event'; topic: TopicName; payload: unknown };

export type ApiErrorCode =
  | 'unauthorized'
  | 'invalid_input'
  | 'not_found'
  | 'conflict'
  | 'unreachable'
  | 'auth_failed'
  | 'host_key_changed'
  | 'host_key_unconfirmed'
  | 'missing_packages'
  | 'unsupported_os'
  | 'agent_failed'
  | 'deploy_failed'
  // Stored data failed its authentication (tampered, reordered, truncated or another key).
  | 'integrity'
  | 'internal';

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
  toJSON(): ApiErrorShape {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) };
  }
  static from(shape: ApiErrorShape): ApiError {
    return new ApiError(shape.code, shape.message, shape.hint);
  }
}

// The one typed client, over any transport that can send a ClientMessage and deliver
// ServerMessages. Used by the renderer (WebSocket or IPC) and by the CLI (WebSocket).
export interface Transport {
  send(msg: ClientMessage): void;
  onMessage(handler: (msg: ServerMessage) => void): void;
}

export class ApiClient {
  private nextId = 1;
  private pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; onProgress?: (p: unknown) => void }
  >();
  private listeners = new Map<TopicName, Set<(payload: unknown) => void>>();

  constructor(private transport: Transport) {
    transport.onMessage((msg) => this.dispatch(msg));
  }

  call<P extends ProcedureName>(
    op: P,
    input: InputOf<P>,
    onProgress?: (p: ProgressOf<P>) => void,
  ): Promise<OutputOf<P>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        onProgress: onProgress as ((p: unknown) => void) | undefined,
      });
      this.transport.send({ type: 'call', id, op, input });
    });
  }

  // Starts a call that may be ended early: cancel() asks the server to stop it (a following
  // log ends with its result). `result` settles as call()'s promise does.
  stream<P extends ProcedureName>(
    op: P,
    input: InputOf<P>,
    onProgress?: (p: ProgressOf<P>) => void,
  ): { id: number; result: Promise<OutputOf<P>>; cancel(): void } {
    const id = this.nextId;
    const result = this.call(op, input, onProgress);
    return {
      id,
      result,
      cancel: () => {
        if (this.pending.has(id)) this.transport.send({ type: 'cancel', id });
      },
    };
  }

  subscribe<T extends TopicName>(topic: T, handler: (payload: TopicPayload<T>) => void): () => void {
    let set = this.listeners.get(topic);
    if (!set) {
      set = new Set();
      this.listeners.set(topic, set);
      this.transport.send({ type: 'subscribe', topic });
    }
    const h = handler as (payload: unknown) => void;
    set.add(h);
    return () => {
      set!.delete(h);
      if (set!.size === 0) {
        this.listeners.delete(topic);
        this.transport.send({ type: 'unsubscribe', topic });
      }
    };
  }

  // Fails every call in flight, e.g. when the connection drops.
  failAll(error: Error): void {
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  private dispatch(msg: ServerMessage): void {
    switch (msg.type) {
      case 'result': {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        p?.resolve(msg.result);
        break;
      }
      case 'error': {
        if (msg.id === null) {
          this.failAll(ApiError.from(msg.error));
          break;
        }
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        p?.reject(ApiError.from(msg.error));
        break;
      }
      case 'progress':
        this.pending.get(msg.id)?.onProgress?.(msg.progress);
        break;
      case 'event':
        for (const h of this.listeners.get(msg.topic) ?? []) h(msg.payload);
        break;
      case 'ready':
        break;
    }
  }
}
