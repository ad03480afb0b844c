// Backups' defaults and names shared by the control plane, the UI and the agent. Pure.
import { RETENTION_DEFAULTS } from './backup-retention';

export const BACKUP_SOURCE_KINDS = ['volume', 'postgres', 'mysql', 'sqlite'] as const;
export type BackupSourceKind = (typeof BACKUP_SOURCE_KINDS)[number];
// PodPloy's own SQLite state: backed up by the control plane itself, not by a node.
export const CONTROL_PLANE_SOURCE = 'control-plane';

export const VOLUME_CONSISTENCY = ['live', 'pause'] as const;
export type VolumeConsistency = (typeof VOLUME_CONSISTENCY)[number];

export const DESTINATION_KINDS = ['local', 's3', 'sftp'] as const;
export type DestinationKindName = (typeof DESTINATION_KINDS)[number];
// The settings of each kind that are secrets: sealed at rest and on the wire, never returned.
export const DESTINATION_SECRET_FIELDS = {
  local: [],
  s3: ['secretAccessKey'],
  sftp: ['privateKey', 'passphrase', 'password'],
} as const satisfies Record<DestinationKindName, readonly string[]>;

export const BACKUP_DEFAULTS = {
  schedules: ['0 3 * * *'],
  timezone: 'UTC',
  retention: RETENTION_DEFAULTS,
  // After a failed run: this many more attempts, this long apart.
  retryAttempts: 2,
  retryDelayMs: 5 * 60_000,
  consistency: 'live' as VolumeConsistency,
} as const;

export const MAX_RETRY_ATTEMPTS = 10;
export const MAX_RETRY_DELAY_MS = 24 * 3_600_000;

// On a destination: <prefix>/<app>/<policy id>/<run id>/{manifest.sealed,data.sealed}
export const BACKUP_DATA_OBJECT = 'data.sealed';
export const BACKUP_MANIFEST_OBJECT = 'manifest.sealed';
export const BACKUP_FORMAT = 'podploy-backup/1';
// Each node seals its runs with its own key, derived from the master key with this label + node id.
export const BACKUP_KEY_INFO = 'podploy/backups/v1/node/';
export const CONTROL_PLANE_BACKUP_KEY_INFO = 'podploy/backups/v1/control-plane';
