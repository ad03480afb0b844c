import { integer, sqliteTable, text, blob, uniqueIndex, index, real, primaryKey } from 'drizzle-orm/sqlite-core';

export const nodes = sqliteTable(
  'nodes',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    host: text('host').notNull(),
    port: integer('port').notNull(),
    sshUser: text('ssh_user').notNull(),
    hostKeyFingerprint: text('host_key_fingerprint').notNull(),
    hostKey: text('host_key').notNull(), // base64 of the raw public key blob
    // Encrypted (XChaCha20-Poly1305 under the master key) JSON of the SSH auth.
    sshAuth: blob('ssh_auth', { mode: 'buffer' }).notNull(),
    agentPort: integer('agent_port').notNull(),
    serviceMode: text('service_mode', { enum: ['systemd', 'supervisor'] }).notNull(),
    agentVersion: text('agent_version').notNull(),
    agentSha256: text('agent_sha256').notNull(),
    facts: text('facts', { mode: 'json' }),
    usage: text('usage', { mode: 'json' }),
    labels: text('labels', { mode: 'json' }).notNull().$type<Record<string, string>>(),
    lastSeenAt: integer('last_seen_at'),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [uniqueIndex('nodes_name_unique').on(t.name), uniqueIndex('nodes_endpoint_unique').on(t.host, t.port, t.sshUser)],
);

// Host keys pinned on first use, kept even when a node is removed, so that a server whose
// key changed is noticed on the next onboarding too.
export const knownHosts = sqliteTable(
  'known_hosts',
  {
    host: text('host').notNull(),
    port: integer('port').notNull(),
    keyType: text('key_type').notNull(),
    fingerprint: text('fingerprint').notNull(),
    hostKey: text('host_key').notNull(),
    pinnedAt: integer('pinned_at').notNull(),
  },
  (t) => [uniqueIndex('known_hosts_endpoint').on(t.host, t.port)],
);

export const auditLog = sqliteTable('audit_log', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  at: integer('at').notNull(),
  actor: text('actor').notNull(),
  source: text('source').notNull(),
  action: text('action').notNull(),
  target: text('target').notNull(),
  result: text('result', { enum: ['ok', 'error'] }).notNull(),
  detail: text('detail').notNull(),
});

export const apiTokens = sqliteTable('api_tokens', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  actor: text('actor').notNull(),
  tokenSha256: text('token_sha256').notNull().unique(),
  createdAt: integer('created_at').notNull(),
});

// Control-plane key material and other small secrets; value is ciphertext under the master key.
export const vault = sqliteTable('vault', {
  name: text('name').primaryKey(),
  value: blob('value', { mode: 'buffer' }).notNull(),
  createdAt: integer('created_at').notNull(),
});

export const settings = sqliteTable('settings', {
  name: text('name').primaryKey(),
  value: text('value').notNull(),
});

export const apps = sqliteTable(
  'apps',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    nodeId: text('node_id')
      .notNull()
      .references(() => nodes.id),
    // The AppSpec (src-main/api/app-spec.ts) as last saved; each release freezes its own copy.
    spec: text('spec', { mode: 'json' }).notNull(),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [uniqueIndex('apps_name_unique').on(t.name)],
);

export const releases = sqliteTable(
  'releases',
  {
    id: text('id').primaryKey(),
    appId: text('app_id')
      .notNull()
      .references(() => apps.id, { onDelete: 'cascade' }),
    number: integer('number').notNull(),
    imageRef: text('image_ref').notNull(),
    imageDigest: text('image_digest'),
    spec: text('spec', { mode: 'json' }).notNull(),
    secretVersion: integer('secret_version').notNull(),
    status: text('status', { enum: ['pending', 'deploying', 'live', 'failed', 'superseded'] }).notNull(),
    failedStep: text('failed_step'),
    reason: text('reason'),
    createdBy: text('created_by').notNull(),
    createdAt: integer('created_at').notNull(),
    finishedAt: integer('finished_at'),
  },
  (t) => [uniqueIndex('releases_app_number').on(t.appId, t.number)],
);

// An app's secrets, one row per version: every set/unset writes the app's whole set again.
// `sealed` is the JSON object name -> value, sealed under the master key (context
// `app-secrets:<appId>:<version>`); `entries` holds names with who/when only, never values.
// Version 0 is the empty set and has no row.
export const secretVersions = sqliteTable(
  'secret_versions',
  {
    appId: text('app_id')
      .notNull()
      .references(() => apps.id, { onDelete: 'cascade' }),
    version: integer('version').notNull(),
    sealed: blob('sealed', { mode: 'buffer' }).notNull(),
    entries: text('entries', { mode: 'json' }).notNull().$type<{ name: string; updatedAt: number; updatedBy: string }[]>(),
    createdBy: text('created_by').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [uniqueIndex('secret_versions_app_version').on(t.appId, t.version)],
);

// Events the nodes' agents published (proto/node-events.ts), stored once each: the id is the
// JetStream message id, so a redelivered message changes nothing. node_id is the link's node,
// never what the message claims. No foreign key: a removed node's history stays.
export const nodeEvents = sqliteTable(
  'node_events',
  {
    id: text('id').primaryKey(),
    nodeId: text('node_id').notNull(),
    // The agent's own order (per node) and the node's JetStream stream sequence.
    seq: integer('seq').notNull(),
    streamSeq: integer('stream_seq').notNull(),
    atMs: integer('at_ms').notNull(),
    receivedAtMs: integer('received_at_ms').notNull(),
    kind: text('kind').notNull(),
    severity: text('severity', { enum: ['info', 'warning', 'error'] }).notNull(),
    app: text('app'),
    container: text('container'),
    release: text('release'),
    message: text('message').notNull(),
    data: text('data', { mode: 'json' }).$type<Record<string, string | number | boolean | null>>(),
  },
  (t) => [
    index('node_events_node_seq').on(t.nodeId, t.seq),
    index('node_events_node_stream_seq').on(t.nodeId, t.streamSeq),
    index('node_events_app_at').on(t.app, t.atMs),
    index('node_events_app_kind_at').on(t.app, t.kind, t.atMs),
    index('node_events_at').on(t.atMs),
  ],
);

// Per-container samples, kept METRICS_RETENTION_MS (src-main/events/event-store.ts).
export const metricsSamples = sqliteTable(
  'metrics_samples',
  {
    id: text('id').primaryKey(),
    nodeId: text('node_id').notNull(),
    app: text('app').notNull(),
    container: text('container').notNull(),
    atMs: integer('at_ms').notNull(),
    cpuPercent: real('cpu_percent').notNull(),
    memBytes: integer('mem_bytes').notNull(),
    memLimitBytes: integer('mem_limit_bytes').notNull(),
    restarts: integer('restarts').notNull(),
  },
  (t) => [index('metrics_samples_app_at').on(t.app, t.atMs), index('metrics_samples_at').on(t.atMs)],
);

// How far the control plane has read each node's streams. A stream that was created anew (its
// `created` differs) starts over at sequence 0; `lost` counts messages the node's stream dropped
// (limits) before they were read.
export const eventLinks = sqliteTable(
  'event_links',
  {
    nodeId: text('node_id').notNull(),
    stream: text('stream').notNull(),
    streamCreated: text('stream_created'),
    lastStreamSeq: integer('last_stream_seq').notNull(),
    stored: integer('stored').notNull(),
    lost: integer('lost').notNull(),
    lastEventAtMs: integer('last_event_at_ms'),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.nodeId, t.stream] })],
);

// Terminal sessions and their recordings (asciicast v2 sealed in `file`, under the data
// folder). One row per session, written when it opens and completed when it ends.
export const recordings = sqliteTable(
  'recordings',
  {
    id: text('id').primaryKey(),
    actor: text('actor').notNull(),
    source: text('source').notNull(),
    nodeId: text('node_id').notNull(),
    nodeName: text('node_name').notNull(),
    app: text('app'),
    container: text('container').notNull(),
    command: text('command', { mode: 'json' }).$type<string[]>().notNull(),
    tty: integer('tty', { mode: 'boolean' }).notNull(),
    cols: integer('cols').notNull(),
    rows: integer('rows').notNull(),
    startedAt: integer('started_at').notNull(),
    endedAt: integer('ended_at'),
    exitCode: integer('exit_code'),
    endReason: text('end_reason'),
    state: text('state', { enum: ['live', 'ended', 'interrupted'] }).notNull(),
    // Relative to the data folder.
    file: text('file').notNull(),
    bytes: integer('bytes').notNull().default(0),
    inputBytes: integer('input_bytes').notNull().default(0),
    outputBytes: integer('output_bytes').notNull().default(0),
  },
  (t) => [index('recordings_started').on(t.startedAt), index('recordings_node').on(t.nodeId, t.startedAt), index('recordings_app').on(t.app, t.startedAt)],
);

// Where backup runs go. Secret settings are sealed under the master key in `sealedSecrets`.
export const backupDestinations = sqliteTable('backup_destinations', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  kind: text('kind', { enum: ['local', 's3', 'sftp'] }).notNull(),
  settings: text('settings', { mode: 'json' }).$type<Record<string, string | number | boolean>>().notNull(),
  sealedSecrets: blob('sealed_secrets', { mode: 'buffer' }),
  createdAt: integer('created_at').notNull(),
  createdBy: text('created_by').notNull(),
});

// What is backed up, when, where and how long. `spec` is the policy as the API took it
// (BackupPolicyInput after defaults); `pushedVersion` = `version` once the node holds it.
export const backupPolicies = sqliteTable('backup_policies', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  app: text('app'),
  nodeId: text('node_id'),
  spec: text('spec', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  version: integer('version').notNull().default(1),
  pushedVersion: integer('pushed_version').notNull().default(0),
  pushError: text('push_error'),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

// Every run, as the node (or the control plane, for its own state) reported it.
export const backupRuns = sqliteTable(
  'backup_runs',
  {
    id: text('id').primaryKey(),
    policyId: text('policy_id').notNull(),
    policyName: text('policy_name').notNull(),
    app: text('app'),
    nodeId: text('node_id'),
    sourceKind: text('source_kind').notNull(),
    trigger: text('trigger', { enum: ['schedule', 'manual', 'retry'] }).notNull(),
    attempt: integer('attempt').notNull(),
    startedAt: integer('started_at').notNull(),
    finishedAt: integer('finished_at'),
    status: text('status', { enum: ['running', 'ok', 'failed', 'pruned'] }).notNull(),
    plainBytes: integer('plain_bytes').notNull().default(0),
    sealedBytes: integer('sealed_bytes').notNull().default(0),
    sha256: text('sha256'),
    copies: text('copies', { mode: 'json' }).$type<{ destinationId: string; key: string; ok: boolean; error: string | null }[]>().notNull(),
    error: text('error'),
  },
  (t) => [index('backup_runs_policy').on(t.policyId, t.startedAt), index('backup_runs_started').on(t.startedAt)],
);
