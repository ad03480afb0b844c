// The Backups dialogs' forms and the API inputs they make: a policy, a destination, a restore.
// Checked with the contract's own schemas and the server's schedule and retention checks
// (proto/backup-schedule.ts, proto/backup-retention.ts), so a problem reads here exactly as the
// server would word it. Pure; backup-forms.spec.ts.
import {
  BackupPolicyInput,
  DestinationInput,
  type BackupPolicySummary,
  type DestinationSummary,
  type RestoreInput,
} from '../../src-main/api/contract';
import { BACKUP_DEFAULTS, DESTINATION_SECRET_FIELDS, MAX_RETRY_ATTEMPTS, MAX_RETRY_DELAY_MS, type DestinationKindName, type VolumeConsistency } from '../../proto/backup-defaults';
import { retentionProblems } from '../../proto/backup-retention';
import { MAX_SCHEDULES_PER_POLICY, scheduleProblems } from '../../proto/backup-schedule';
import { RETENTION_KEYS, type RetentionKey } from './backup-view';

export const POLICY_SOURCE_KINDS = ['volume', 'postgres', 'mysql', 'sqlite', 'control-plane'] as const;
export type PolicySourceKind = (typeof POLICY_SOURCE_KINDS)[number];

export const SOURCE_KIND_LABELS: Record<PolicySourceKind, string> = {
  volume: 'A named volume',
  postgres: 'PostgreSQL database (pg_dump)',
  mysql: 'MySQL / MariaDB database (mysqldump)',
  sqlite: 'SQLite database file (online backup)',
  'control-plane': "PodPloy's own state",
};

export const CONSISTENCY_HELP: Record<VolumeConsistency, string> = {
  live: 'The app keeps running while its files are read. Right for files written whole (uploads, assets); a database in the volume may be caught mid-write: back it up with its dump source instead.',
  pause: 'The app is paused (not stopped) while the volume is read, so the files are consistent; it is always resumed, also when the backup fails. Requests wait during the pause.',
};

const MS_PER_MINUTE = 60_000;

export interface PolicyForm {
  name: string;
  app: string;
  kind: PolicySourceKind;
  volume: string;
  consistency: VolumeConsistency;
  database: string;
  dbUser: string;
  passwordSecret: string;
  sqlitePath: string;
  schedules: string[];
  timezone: string;
  destinations: string[];
  retention: Record<RetentionKey, string>;
  retryAttempts: string;
  retryDelayMinutes: string;
  enabled: boolean;
}

export interface PolicyProblems {
  name?: string;
  app?: string;
  source?: string;
  // One entry per schedule field (null: fine), and what concerns the list as a whole.
  schedules: (string | null)[];
  scheduleList?: string;
  timezone?: string;
  destinations?: string;
  retention?: string;
  retries?: string;
  other?: string;
}

export function newPolicyForm(app = ''): PolicyForm {
  return {
    name: app ? `${app}-daily` : '',
    app,
    kind: app ? 'volume' : 'control-plane',
    volume: '',
    consistency: BACKUP_DEFAULTS.consistency,
    database: '',
    dbUser: '',
    passwordSecret: '',
    sqlitePath: '',
    schedules: [...BACKUP_DEFAULTS.schedules],
    timezone: BACKUP_DEFAULTS.timezone,
    destinations: [],
    retention: Object.fromEntries(RETENTION_KEYS.map((k) => [k, String(BACKUP_DEFAULTS.retention[k])])) as Record<RetentionKey, string>,
    retryAttempts: String(BACKUP_DEFAULTS.retryAttempts),
    retryDelayMinutes: String(BACKUP_DEFAULTS.retryDelayMs / MS_PER_MINUTE),
    enabled: true,
  };
}

export function policyFormOf(p: BackupPolicySummary): PolicyForm {
  const s = p.source;
  return {
    ...newPolicyForm(p.app ?? ''),
    name: p.name,
    app: p.app ?? '',
    kind: s.kind,
    volume: s.kind === 'volume' ? s.volume : '',
    consistency: s.kind === 'volume' ? (s.consistency ?? BACKUP_DEFAULTS.consistency) : BACKUP_DEFAULTS.consistency,
    database: s.kind === 'postgres' || s.kind === 'mysql' ? s.database : '',
    dbUser: (s.kind === 'postgres' || s.kind === 'mysql') && s.user ? s.user : '',
    passwordSecret: (s.kind === 'postgres' || s.kind === 'mysql') && s.passwordSecret ? s.passwordSecret : '',
    sqlitePath: s.kind === 'sqlite' ? s.path : '',
    schedules: [...p.schedules],
    timezone: p.timezone,
    destinations: [...p.destinations],
    retention: Object.fromEntries(RETENTION_KEYS.map((k) => [k, String(p.retention[k])])) as Record<RetentionKey, string>,
    retryAttempts: String(p.retryAttempts),
    retryDelayMinutes: String(p.retryDelayMs / MS_PER_MINUTE),
    enabled: p.enabled,
  };
}

function wholeNumber(text: string): number {
  return /^\s*\d+\s*$/.test(text) ? Number(text.trim()) : NaN;
}

function sourceOf(f: PolicyForm): BackupPolicyInput['source'] {
  switch (f.kind) {
    case 'volume':
      return { kind: 'volume', volume: f.volume.trim(), consistency: f.consistency };
    case 'postgres':
    case 'mysql':
      return {
        kind: f.kind,
        database: f.database.trim(),
        ...(f.dbUser.trim() ? { user: f.dbUser.trim() } : {}),
        ...(f.passwordSecret ? { passwordSecret: f.passwordSecret } : {}),
      };
    case 'sqlite':
      return { kind: 'sqlite', path: f.sqlitePath.trim() };
    case 'control-plane':
      return { kind: 'control-plane' };
  }
}

// One schedule's problem in the server's words, or null. An invalid zone is reported once, on
// the zone field, and the schedules are then checked in UTC.
export function scheduleProblem(expression: string, timeZone: string, nowMs = Date.now()): string | null {
  if (!expression.trim()) return 'enter a cron expression, e.g. "0 3 * * *", or remove this schedule';
  const zone = timeZoneProblem(timeZone) ? BACKUP_DEFAULTS.timezone : timeZone;
  return scheduleProblems([expression.trim()], zone, nowMs)[0] ?? null;
}

export function timeZoneProblem(timeZone: string): string | null {
  const problems = scheduleProblems(['@daily'], timeZone.trim());
  return problems.find((p) => p.startsWith('time zone')) ?? null;
}

export function policyInputOf(f: PolicyForm, nowMs = Date.now()): { input: BackupPolicyInput | null; problems: PolicyProblems } {
  const problems: PolicyProblems = { schedules: f.schedules.map((s) => scheduleProblem(s, f.timezone, nowMs)) };
  if (f.schedules.length === 0) problems.scheduleList = 'a policy needs at least one schedule (a cron expression such as "0 3 * * *")';
  else if (f.schedules.length > MAX_SCHEDULES_PER_POLICY) problems.scheduleList = `at most ${MAX_SCHEDULES_PER_POLICY} schedules per policy`;
  const tz = timeZoneProblem(f.timezone);
  if (tz) problems.timezone = tz;
  if (f.kind !== 'control-plane' && !f.app) problems.app = 'choose the app whose data is backed up';
  if (f.kind === 'volume' && !f.volume.trim()) problems.source = 'choose one of the app\'s named volumes';
  if ((f.kind === 'postgres' || f.kind === 'mysql') && !f.database.trim()) problems.source = 'enter the database name';
  if (f.kind === 'sqlite' && !f.sqlitePath.trim()) problems.source = 'enter the database file\'s path inside the container';
  if (f.destinations.length === 0) problems.destinations = 'choose at least one destination (add one under Destinations first)';

  const retention = Object.fromEntries(RETENTION_KEYS.map((k) => [k, wholeNumber(f.retention[k])])) as Record<RetentionKey, number>;
  const rp = retentionProblems(retention);
  if (rp.length) problems.retention = rp.join('; ');
  const attempts = wholeNumber(f.retryAttempts);
  const delayMinutes = Number(f.retryDelayMinutes.trim());
  const delayMs = Math.round(delayMinutes * MS_PER_MINUTE);
  if (!Number.isInteger(attempts) || attempts > MAX_RETRY_ATTEMPTS) problems.retries = `retries: a whole number from 0 to ${MAX_RETRY_ATTEMPTS}`;
  else if (!f.retryDelayMinutes.trim() || !Number.isFinite(delayMinutes) || delayMs < 1_000 || delayMs > MAX_RETRY_DELAY_MS)
    problems.retries = `the retry delay is in minutes, from 0.02 (1 second) to ${MAX_RETRY_DELAY_MS / MS_PER_MINUTE} (a day)`;

  const candidate: BackupPolicyInput = {
    name: f.name.trim(),
    ...(f.kind !== 'control-plane' && f.app ? { app: f.app } : {}),
    source: sourceOf(f),
    schedules: f.schedules.map((s) => s.trim()),
    timezone: f.timezone.trim(),
    destinations: [...f.destinations],
    retention,
    retryAttempts: attempts,
    retryDelayMs: delayMs,
    enabled: f.enabled,
  };
  const parsed = BackupPolicyInput.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path[0];
      if (key === 'name') problems.name ??= issue.message;
      else if (key === 'app') problems.app ??= issue.message;
      else if (key === 'source') problems.source ??= issue.message;
      else if (key !== 'retention' && key !== 'retryAttempts' && key !== 'retryDelayMs' && key !== 'schedules' && key !== 'destinations')
        problems.other ??= `${issue.path.join('.')}: ${issue.message}`;
    }
  }
  const ok =
    !problems.name && !problems.app && !problems.source && !problems.scheduleList && problems.schedules.every((p) => p === null) && !problems.timezone &&
    !problems.destinations && !problems.retention && !problems.retries && !problems.other;
  return { input: ok ? candidate : null, problems };
}

export interface DestinationForm {
  kind: DestinationKindName;
  name: string;
  path: string;
  endpoint: string;
  region: string;
  bucket: string;
  prefix: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
  host: string;
  port: string;
  user: string;
  folder: string;
  hostKeyFingerprint: string;
  privateKey: string;
  passphrase: string;
  password: string;
}

export const DEFAULT_SFTP_PORT = 22;

export function newDestinationForm(kind: DestinationKindName = 'local'): DestinationForm {
  return {
    kind,
    name: '',
    path: '',
    endpoint: '',
    region: '',
    bucket: '',
    prefix: '',
    forcePathStyle: false,
    accessKeyId: '',
    secretAccessKey: '',
    host: '',
    port: String(DEFAULT_SFTP_PORT),
    user: '',
    folder: '',
    hostKeyFingerprint: '',
    privateKey: '',
    passphrase: '',
    password: '',
  };
}

// The non-secret settings of a stored destination; its secrets stay empty (write-only).
export function destinationFormOf(d: DestinationSummary): DestinationForm {
  const f = newDestinationForm(d.kind);
  const text = (k: string) => (d.settings[k] === undefined ? '' : String(d.settings[k]));
  f.name = d.name;
  if (d.kind === 'local') f.path = text('path');
  if (d.kind === 's3') {
    f.endpoint = text('endpoint');
    f.region = text('region');
    f.bucket = text('bucket');
    f.prefix = text('prefix');
    f.forcePathStyle = d.settings.forcePathStyle === true || d.settings.forcePathStyle === 'true';
    f.accessKeyId = text('accessKeyId');
  }
  if (d.kind === 'sftp') {
    f.host = text('host');
    f.port = text('port') || String(DEFAULT_SFTP_PORT);
    f.user = text('user');
    f.folder = text('folder');
    f.hostKeyFingerprint = text('hostKeyFingerprint');
  }
  return f;
}

export function secretFieldsOf(kind: DestinationKindName): readonly string[] {
  return DESTINATION_SECRET_FIELDS[kind];
}

function candidateDestination(f: DestinationForm): Record<string, unknown> {
  const opt = (v: string) => (v.trim() ? v.trim() : undefined);
  const name = f.name.trim();
  if (f.kind === 'local') return { kind: 'local', name, path: f.path.trim() };
  if (f.kind === 's3')
    return {
      kind: 's3',
      name,
      endpoint: opt(f.endpoint),
      region: opt(f.region),
      bucket: f.bucket.trim(),
      prefix: opt(f.prefix),
      forcePathStyle: f.forcePathStyle || undefined,
      accessKeyId: f.accessKeyId.trim(),
      secretAccessKey: f.secretAccessKey,
    };
  return {
    kind: 'sftp',
    name,
    host: f.host.trim(),
    port: f.port.trim() ? Number(f.port.trim()) : undefined,
    user: f.user.trim(),
    folder: f.folder.trim(),
    hostKeyFingerprint: f.hostKeyFingerprint.trim(),
    privateKey: f.privateKey.trim() ? f.privateKey.replace(/\r\n/g, '\n').trimEnd() + '\n' : undefined,
    passphrase: f.passphrase || undefined,
    password: f.password || undefined,
  };
}

// Problems by field name (the contract's words); input only when there are none.
export function destinationInputOf(f: DestinationForm): { input: DestinationInput | null; problems: Record<string, string> } {
  const candidate = Object.fromEntries(Object.entries(candidateDestination(f)).filter(([, v]) => v !== undefined));
  const problems: Record<string, string> = {};
  const parsed = DestinationInput.safeParse(candidate);
  if (!parsed.success) for (const issue of parsed.error.issues) problems[String(issue.path[0] ?? 'form')] ??= issue.message;
  if (f.kind === 'sftp' && !f.privateKey.trim() && !f.password) problems.privateKey ??= 'an SFTP destination needs a private key or a password';
  if (f.kind === 'sftp' && f.port.trim() && !/^\d+$/.test(f.port.trim())) problems.port = 'the port is a number from 1 to 65535';
  return { input: Object.keys(problems).length ? null : (candidate as DestinationInput), problems };
}

export interface RestoreForm {
  destination: string; // '' = the first destination that holds the run
  mode: 'new' | 'over';
  target: string;
  into: string; // '' = the run's own app
  confirmText: string;
}

// Over the app's own needs the app's name typed exactly.
export function restoreInputOf(runId: string, app: string | null, f: RestoreForm): { input: RestoreInput | null; problem: string | null } {
  const base: RestoreInput = { run: runId, mode: f.mode, ...(f.destination ? { destination: f.destination } : {}) };
  if (f.mode === 'over') {
    if (!app) return { input: null, problem: 'this run has no app to restore over' };
    if (f.confirmText.trim() !== app) return { input: null, problem: `type ${app} to confirm restoring over the app's own data` };
    return { input: { ...base, confirm: true }, problem: null };
  }
  return {
    input: { ...base, ...(f.target.trim() ? { target: f.target.trim() } : {}), ...(f.into && f.into !== app ? { into: f.into } : {}) },
    problem: null,
  };
}
