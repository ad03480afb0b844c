// Opens the source of a policy (the plain bytes of a run) and restores a run's bytes into a
// target, with the app's live container for databases and the volume by name.
import type { Readable } from 'node:stream';
import type { BackupManifest } from '../../proto/backup/manifest';
import { SECRETS_MOUNT } from '../secrets/entrypoint-wrapper';
import type { AppView } from '../logs-rpc';
import type { PodmanClient } from '../podman/client';
import { SourceCommandError } from './sources/exec-process';
import { openMysqlDump, restoreMysql } from './sources/mysql-source';
import { openPostgresDump, restorePostgres, type PostgresDumpFormat } from './sources/postgres-source';
import { openSqliteBackup, restoreSqlite, type SqliteFormat } from './sources/sqlite-source';
import { openVolumeBackup, restoreVolume } from './sources/volume-source';
import type { NodePolicy } from './policies';

export const POSTGRES_DUMP_FORMAT: PostgresDumpFormat = 'custom';
export const SQLITE_BACKUP_FORMAT: SqliteFormat = 'file';

export interface SourceDeps {
  nodeId: string;
  podman: PodmanClient;
  apps: AppView;
}

// What the manifest records about the source (enough to restore it elsewhere).
export function sourceDescription(policy: NodePolicy): BackupManifest['source'] {
  const s = policy.source;
  switch (s.kind) {
    case 'volume':
      return { kind: 'volume', volume: s.volume, consistency: s.consistency };
    case 'postgres':
      return { kind: 'postgres', database: s.database, format: POSTGRES_DUMP_FORMAT };
    case 'mysql':
      return { kind: 'mysql', database: s.database };
    case 'sqlite':
      return { kind: 'sqlite', path: s.path, format: SQLITE_BACKUP_FORMAT };
  }
}

export function openSource(policy: NodePolicy, deps: SourceDeps): Promise<Readable> {
  const s = policy.source;
  switch (s.kind) {
    case 'volume':
      return openVolumeBackup(deps.podman, { volume: s.volume, pause: s.consistency === 'pause' });
    case 'postgres':
      return openPostgresDump(deps.podman, { container: liveContainer(policy, deps), database: s.database, user: s.user || undefined, passwordFile: passwordFile(policy), format: POSTGRES_DUMP_FORMAT });
    case 'mysql':
      return openMysqlDump(deps.podman, { container: liveContainer(policy, deps), database: s.database, user: s.user || undefined, passwordFile: passwordFile(policy) });
    case 'sqlite':
      return openSqliteBackup(deps.podman, { container: liveContainer(policy, deps), file: s.path, format: SQLITE_BACKUP_FORMAT });
  }
}

export interface RestoreTarget {
  // 'new': a new volume/database/file named `name`; 'over': the policy's own source.
  mode: 'new' | 'over';
  name: string;
  restoredFrom: string;
  signal?: AbortSignal;
}

// The name restored into.
export async function restoreInto(policy: NodePolicy, manifest: BackupManifest, data: Readable, target: RestoreTarget, deps: SourceDeps): Promise<string> {
  const s = policy.source;
  const mode = target.mode === 'over' ? 'replace' : 'new';
  const into = (own: string) => (target.mode === 'over' ? own : target.name);
  const { signal } = target;
  switch (s.kind) {
    case 'volume': {
      const image = deps.apps.live(policy.app)?.image;
      if (!image) throw new SourceCommandError(`node ${deps.nodeId}: app ${policy.app} has no release here, so there is no image to restore volume data with; deploy the app first`);
      await restoreVolume(deps.podman, data, { volume: into(s.volume), mode, image, restoredFrom: target.restoredFrom, signal });
      return into(s.volume);
    }
    case 'postgres': {
      const format = (manifest.source.format as PostgresDumpFormat | undefined) ?? 'plain';
      await restorePostgres(deps.podman, data, { container: liveContainer(policy, deps), database: into(s.database), user: s.user || undefined, passwordFile: passwordFile(policy), format, mode, signal });
      return into(s.database);
    }
    case 'mysql':
      await restoreMysql(deps.podman, data, { container: liveContainer(policy, deps), database: into(s.database), user: s.user || undefined, passwordFile: passwordFile(policy), mode, signal });
      return into(s.database);
    case 'sqlite': {
      const format = (manifest.source.format as SqliteFormat | undefined) ?? 'file';
      await restoreSqlite(deps.podman, data, { container: liveContainer(policy, deps), file: into(s.path), format, mode, signal });
      return into(s.path);
    }
  }
}

function liveContainer(policy: NodePolicy, deps: SourceDeps): string {
  const live = deps.apps.live(policy.app);
  if (!live) throw new SourceCommandError(`node ${deps.nodeId}: app ${policy.app} has no live release here, so there is no container to run the ${policy.source.kind} tools in; deploy or start the app`);
  return live.container;
}

function passwordFile(policy: NodePolicy): string | undefined {
  return policy.source.passwordSecret ? `${SECRETS_MOUNT}/${policy.source.passwordSecret}` : undefined;
}
