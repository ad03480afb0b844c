// `podploy state restore`: a control plane's state from one of its own backups, written as the
// database of a data folder, offline (no control plane runs on it meanwhile). The master key is
// the one the backup was made under, from the usual places; nothing here ever creates one.
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BACKUP_MANIFEST_OBJECT, CONTROL_PLANE_SOURCE } from '../../proto/backup-defaults';
import type { BackupDestination } from '../../proto/backup/destinations/destination';
import { parseDestinationConfig } from '../../proto/backup/destinations/destination-config';
import { openDestination } from '../../proto/backup/destinations/open-destination';
import { openManifest, type BackupManifest } from '../../proto/backup/manifest';
import { readBackupRun } from '../../proto/backup/read-run';
import { ApiError } from '../api/contract';
import { loadOrCreateMasterKey, MASTER_KEY_FILE, MASTER_SALT_FILE, MasterKeyError } from '../crypto/master-key';
import { controlPlaneBackupKey } from './backup-keys';

export const STATE_DB_FILE = 'podploy.db';

export interface StateRun {
  folder: string;
  manifest: BackupManifest;
}

// The master key of an existing installation: PODPLOY_MASTER_KEY, PODPLOY_MASTER_PASSPHRASE with
// the old master.salt.json in DIR, or the old master.key copied into DIR.
export function existingMasterKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): Uint8Array {
  const keyFile = join(dataDir, MASTER_KEY_FILE);
  const saltFile = join(dataDir, MASTER_SALT_FILE);
  if (env.PODPLOY_MASTER_KEY || existsSync(keyFile) || existsSync(saltFile)) {
    try {
      return loadOrCreateMasterKey(dataDir, env);
    } catch (err) {
      if (err instanceof MasterKeyError) throw new ApiError('invalid_input', err.message, err.hint);
      throw new ApiError('invalid_input', (err as Error).message, 'set PODPLOY_MASTER_KEY to the base64 master key of the control plane that made the backup');
    }
  }
  const hint =
    env.PODPLOY_MASTER_PASSPHRASE !== undefined
      ? `copy master.salt.json from the old data folder into ${dataDir}: the passphrase alone does not give the key`
      : `set PODPLOY_MASTER_KEY, or copy the old ${MASTER_KEY_FILE} (or ${MASTER_SALT_FILE} with PODPLOY_MASTER_PASSPHRASE) into ${dataDir}`;
  throw new ApiError('invalid_input', `no master key for ${dataDir}: the backup can only be opened with the master key of the control plane that made it`, hint);
}

export function readDestinationFile(file: string): ReturnType<typeof parseDestinationConfig> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ApiError('invalid_input', `cannot read the destination file ${file}: ${(err as Error).message}`, 'give a JSON file such as {"kind":"local","path":"/srv/backups"}');
  }
  try {
    return parseDestinationConfig(value);
  } catch (err) {
    throw new ApiError('invalid_input', `${file}: ${(err as Error).message}`, 'fix the destination file');
  }
}

// Every control-plane run on the destination whose manifest opens with this key, oldest first.
export async function listStateRuns(destination: BackupDestination, key: Uint8Array): Promise<StateRun[]> {
  const out: StateRun[] = [];
  for (const o of await destination.list(`${CONTROL_PLANE_SOURCE}/`)) {
    if (!o.key.endsWith(`/${BACKUP_MANIFEST_OBJECT}`)) continue;
    const folder = o.key.slice(0, -BACKUP_MANIFEST_OBJECT.length - 1);
    const chunks: Buffer[] = [];
    for await (const c of await destination.get(o.key)) chunks.push(c as Buffer);
    try {
      out.push({ folder, manifest: openManifest(key, Buffer.concat(chunks)) });
    } catch {
      // Another control plane's run, or a damaged manifest: not one this key can restore.
    }
  }
  return out.sort((a, b) => a.manifest.finishedAt - b.manifest.finishedAt);
}

export async function restoreState(opts: {
  destination: BackupDestination;
  masterKey: Uint8Array;
  dataDir: string;
  run?: string;
  latest?: boolean;
  force?: boolean;
  onProgress?: (p: { plainBytes: number }) => void;
}): Promise<{ run: string; policy: string; file: string; plainBytes: number; sha256: string; madeAt: number }> {
  const target = join(opts.dataDir, STATE_DB_FILE);
  if (existsSync(target) && !opts.force) {
    throw new ApiError('conflict', `${opts.dataDir} already holds a control plane's state (${STATE_DB_FILE}); nothing was changed`, 'restore into an empty data folder, or pass --force to replace it (stop its control plane first)');
  }
  const key = controlPlaneBackupKey(opts.masterKey);
  const runs = await listStateRuns(opts.destination, key);
  if (!runs.length) {
    throw new ApiError('not_found', `no control-plane backup on ${opts.destination.where} opens with this master key`, 'check the destination file and that the master key is the one of the control plane that made the backups');
  }
  const chosen = opts.latest ? runs[runs.length - 1] : runs.find((r) => r.manifest.runId === opts.run || r.manifest.runId.startsWith(opts.run ?? '\0'));
  if (!chosen) {
    throw new ApiError('not_found', `no control-plane backup run '${opts.run}' on ${opts.destination.where}`, `the runs there are: ${runs.map((r) => r.manifest.runId).join(', ')}`);
  }
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  const { manifest, data } = await readBackupRun({ destination: opts.destination, folder: chosen.folder, key, onProgress: opts.onProgress });
  const partial = join(opts.dataDir, `.${STATE_DB_FILE}.partial-${randomBytes(6).toString('hex')}`);
  try {
    await pipeline(data, createWriteStream(partial, { flags: 'wx', mode: 0o600 }));
    const fh = await open(partial, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
  // A stale write-ahead log beside the new file would be replayed into it.
  for (const suffix of ['-wal', '-shm']) rmSync(target + suffix, { force: true });
  renameSync(partial, target);
  return { run: manifest.runId, policy: manifest.policyName, file: target, plainBytes: manifest.plainBytes, sha256: manifest.plainSha256, madeAt: manifest.finishedAt };
}

export async function restoreStateFromFile(o: { destinationFile: string; dataDir: string; run?: string; latest?: boolean; force?: boolean; env?: NodeJS.ProcessEnv }) {
  if (!o.latest === !o.run) throw new ApiError('invalid_input', 'give exactly one of --run ID and --latest');
  const config = readDestinationFile(o.destinationFile);
  const masterKey = existingMasterKey(o.dataDir, o.env);
  const destination = await openDestination(config);
  try {
    return await restoreState({ destination, masterKey, dataDir: o.dataDir, run: o.run, latest: o.latest, force: o.force });
  } finally {
    await destination.close().catch(() => undefined);
  }
}
