// The node's backup policies as the agent runs them: the wire policies of a signed
// SetBackupPolicies, checked field by field, with destination credentials and the backup key
// opened in memory only (they stay sealed on the wire and on disk).
import type { BackupDestination as WireDestination, BackupPolicy as WirePolicy, SetBackupPolicies } from '../../proto/gen/podploy/agent/v1/agent';
import { BACKUP_SOURCE_KINDS, DESTINATION_SECRET_FIELDS, VOLUME_CONSISTENCY, type BackupSourceKind, type VolumeConsistency } from '../../proto/backup-defaults';
import { retentionProblems, type RetentionRules } from '../../proto/backup-retention';
import { DEFAULT_BACKUP_TIMEZONE, scheduleProblems } from '../../proto/backup-schedule';
import { MAX_RETRY_ATTEMPTS, MAX_RETRY_DELAY_MS } from '../../proto/backup-defaults';
import { parseDestinationConfig, type DestinationConfig } from '../../proto/backup/destinations/destination-config';
import { SEALED_STREAM_KEY_BYTES } from '../../proto/sealed-stream';

export interface NodeDestination {
  id: string;
  name: string;
  config: DestinationConfig;
}

export interface NodeSource {
  kind: BackupSourceKind;
  volume: string;
  consistency: VolumeConsistency;
  database: string;
  user: string;
  path: string;
  passwordSecret: string;
}

export interface NodePolicy {
  id: string;
  name: string;
  app: string;
  source: NodeSource;
  schedules: string[];
  timezone: string;
  destinations: NodeDestination[];
  retention: RetentionRules;
  retryAttempts: number;
  retryDelayMs: number;
  enabled: boolean;
}

export interface NodePolicies {
  policies: NodePolicy[];
  // Every run of this node is sealed with it; absent when there are no policies.
  key: Uint8Array | undefined;
}

// A policy set the node refuses; nothing changed. The message names the policy and the field.
export class BackupPoliciesRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupPoliciesRefused';
  }
}

export interface PolicyCheckOptions {
  openSealed: (sealed: Uint8Array) => Uint8Array;
  // Tests only (never from the wire): schedules may fire more often than every 5 minutes.
  allowFrequentSchedules?: boolean;
  // A restore may come without a key (the node's own is used then).
  keyOptional?: boolean;
  now?: number;
}

const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const APP_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export function checkPolicies(set: SetBackupPolicies, opts: PolicyCheckOptions): NodePolicies {
  const problems: string[] = [];
  const policies: NodePolicy[] = [];
  const ids = new Set<string>();
  for (const [i, wire] of set.policies.entries()) {
    const label = `policy ${JSON.stringify(wire.name || wire.id || `#${i + 1}`)}`;
    const own: string[] = [];
    const policy = checkPolicy(wire, opts, own);
    if (ids.has(wire.id)) own.push(`id: ${wire.id} is used by two policies`);
    ids.add(wire.id);
    problems.push(...own.map((p) => `${label}: ${p}`));
    if (own.length === 0) policies.push(policy);
  }
  let key: Uint8Array | undefined;
  if (set.sealedBackupKey.length > 0 || (set.policies.length > 0 && !opts.keyOptional)) {
    try {
      key = opts.openSealed(set.sealedBackupKey);
      if (key.length !== SEALED_STREAM_KEY_BYTES) problems.push(`sealed_backup_key: opens to ${key.length} bytes, a backup key is ${SEALED_STREAM_KEY_BYTES}`);
    } catch (err) {
      problems.push(`sealed_backup_key: ${(err as Error).message}`);
    }
  }
  if (problems.length) throw new BackupPoliciesRefused(`backup policies refused, nothing changed: ${problems.join('; ')}`);
  return { policies, key };
}

function checkPolicy(w: WirePolicy, opts: PolicyCheckOptions, problems: string[]): NodePolicy {
  if (!PLAIN_NAME.test(w.id)) problems.push('id: must be a plain name (letters, digits, "_", "." and "-")');
  if (!w.name) problems.push('name: must not be empty');
  if (!APP_NAME.test(w.app)) problems.push(`app: "${w.app}" is not an app name`);
  const timezone = w.timezone || DEFAULT_BACKUP_TIMEZONE;
  const schedules = scheduleProblems(w.schedules, timezone, opts.now).filter((p) => !(opts.allowFrequentSchedules && p.includes('fires more often than')));
  problems.push(...schedules.map((p) => `schedules: ${p}`));
  const retention: RetentionRules = { last: w.retention?.last ?? 0, daily: w.retention?.daily ?? 0, weekly: w.retention?.weekly ?? 0, monthly: w.retention?.monthly ?? 0 };
  problems.push(...retentionProblems(retention).map((p) => `retention: ${p}`));
  if (w.retryAttempts > MAX_RETRY_ATTEMPTS) problems.push(`retry_attempts: at most ${MAX_RETRY_ATTEMPTS}, got ${w.retryAttempts}`);
  if (w.retryDelayMs > MAX_RETRY_DELAY_MS) problems.push(`retry_delay_ms: at most ${MAX_RETRY_DELAY_MS}, got ${w.retryDelayMs}`);
  const source = checkSource(w, problems);
  if (w.destinations.length === 0) problems.push('destinations: a policy needs at least one destination');
  const destinations: NodeDestination[] = [];
  const destIds = new Set<string>();
  for (const d of w.destinations) {
    if (destIds.has(d.id)) problems.push(`destination ${d.name || d.id}: listed twice`);
    destIds.add(d.id);
    try {
      destinations.push(openDestinationConfig(d, opts.openSealed));
    } catch (err) {
      problems.push(`destination ${JSON.stringify(d.name || d.id)}: ${(err as Error).message}`);
    }
  }
  return { id: w.id, name: w.name, app: w.app, source, schedules: [...w.schedules], timezone, destinations, retention, retryAttempts: w.retryAttempts, retryDelayMs: w.retryDelayMs, enabled: w.enabled };
}

function checkSource(w: WirePolicy, problems: string[]): NodeSource {
  const s = w.source;
  const out: NodeSource = { kind: 'volume', volume: '', consistency: 'live', database: '', user: '', path: '', passwordSecret: '' };
  if (!s) {
    problems.push('source: missing');
    return out;
  }
  if (!(BACKUP_SOURCE_KINDS as readonly string[]).includes(s.kind)) {
    problems.push(`source.kind: "${s.kind}" is not one of ${BACKUP_SOURCE_KINDS.join(', ')}`);
    return out;
  }
  const kind = s.kind as BackupSourceKind;
  const consistency = (s.consistency || 'live') as VolumeConsistency;
  if (kind === 'volume') {
    if (!PLAIN_NAME.test(s.volume)) problems.push(`source.volume: "${s.volume}" is not a volume name`);
    if (!VOLUME_CONSISTENCY.includes(consistency)) problems.push(`source.consistency: "${s.consistency}" is not one of ${VOLUME_CONSISTENCY.join(', ')}`);
  }
  if (kind === 'postgres' || kind === 'mysql') {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_$.-]{0,62}$/.test(s.database)) problems.push(`source.database: "${s.database}" is not a plain database name`);
    if (s.user && !/^[A-Za-z0-9_][A-Za-z0-9_$.-]{0,62}$/.test(s.user)) problems.push(`source.user: "${s.user}" is not a plain user name`);
    if (s.passwordSecret && !SECRET_NAME.test(s.passwordSecret)) problems.push(`source.password_secret: "${s.passwordSecret}" is not a secret name`);
  }
  if (kind === 'sqlite' && !/^\/[A-Za-z0-9_.\/-]+$/.test(s.path)) problems.push(`source.path: "${s.path}" must be an absolute path of plain characters`);
  return { kind, volume: s.volume, consistency, database: s.database, user: s.user, path: s.path, passwordSecret: s.passwordSecret };
}

// config_json (non-secret settings) + the opened sealed_credentials, checked. Error messages
// name fields, never values.
export function openDestinationConfig(d: WireDestination, openSealed: (sealed: Uint8Array) => Uint8Array): NodeDestination {
  if (!PLAIN_NAME.test(d.id)) throw new Error('id: must be a plain name');
  let settings: Record<string, unknown>;
  try {
    settings = JSON.parse(d.configJson || '{}') as Record<string, unknown>;
  } catch {
    throw new Error('config_json: is not JSON');
  }
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) throw new Error('config_json: must be a JSON object');
  const secretFields = (DESTINATION_SECRET_FIELDS as Record<string, readonly string[]>)[d.kind] ?? [];
  for (const f of secretFields) if (f in settings) throw new Error(`config_json: carries the secret "${f}" in the clear; it belongs in sealed_credentials`);
  let credentials: Record<string, unknown> = {};
  if (d.sealedCredentials.length > 0) {
    try {
      credentials = JSON.parse(Buffer.from(openSealed(d.sealedCredentials)).toString('utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`sealed_credentials: cannot be opened (${(err as Error).message.split(':')[0]})`);
    }
    for (const f of Object.keys(credentials)) if (!secretFields.includes(f)) throw new Error(`sealed_credentials: "${f}" is not a secret field of a ${d.kind} destination`);
  }
  const config = parseDestinationConfig({ ...settings, ...credentials, kind: d.kind });
  return { id: d.id, name: d.name, config };
}
