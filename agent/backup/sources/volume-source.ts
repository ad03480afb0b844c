// Volume backups and restores: a tar stream of a named volume's content, read by a helper
// container while the app runs (optionally paused), and extracted into a new volume (default)
// or over an existing one.
import type { Readable } from 'node:stream';
import type { PodmanClient } from '../../podman/client';
import { runExec } from '../../podman/exec';
import { pauseContainer, unpauseContainer } from '../../podman/containers';
import { containersUsingVolume, createVolume, findVolume, removeVolume, type VolumeUser } from '../../podman/volumes';
import { SourceCommandError } from './exec-process';
import { openExecStream, runExecWithInput } from './exec-stream';
import { hostTarPossible, openHostTar } from './host-tar';
import { removeVolumeHelper, startVolumeHelper, VOLUME_MOUNT_PATH } from './volume-helper';

// Owners stay numbers: the helper image's /etc/passwd must not rename them.
export const VOLUME_TAR_CREATE = ['tar', '-c', '-f', '-', '--numeric-owner', '-C', VOLUME_MOUNT_PATH, '.'];
export const VOLUME_TAR_EXTRACT = ['tar', '-x', '-f', '-', '--numeric-owner', '-C', VOLUME_MOUNT_PATH];
// Empties a volume before a restore replaces it (dot files too; a pattern that matches nothing stays literal and rm -f ignores it).
export const VOLUME_EMPTY = ['sh', '-c', `cd ${VOLUME_MOUNT_PATH} && rm -rf -- * .[!.]* ..?*`];
const VOLUME_EMPTY_TIMEOUT_MS = 10 * 60_000;
export const VOLUME_RESTORE_LABEL = 'podploy.restored-from';

export interface VolumeBackupOptions {
  volume: string;
  // Image of the helper container (needs sleep and tar); default: the image of a container
  // that mounts the volume (the app's own).
  image?: string;
  // Freeze the running containers that mount the volume while it is read; they are always
  // unpaused, also when the backup fails or the stream is destroyed.
  pause?: boolean;
}

// Resolves once tar runs; the stream is the tar archive. It fails when tar exits non-zero (for
// a volume written during the backup: use pause). After 'close' the helper is removed and
// paused containers run again. Without an explicit image, a volume whose every entry belongs
// to the agent's user is read by tar on the node itself (host-tar.ts), at disk speed.
export async function openVolumeBackup(podman: PodmanClient, options: VolumeBackupOptions): Promise<Readable> {
  const { volume } = options;
  const info = await findVolume(podman, volume);
  if (!info) {
    // Podman would create a missing volume for the helper and the backup would be an empty archive.
    throw new SourceCommandError(`volume ${volume} does not exist on this node: nothing to back up (check the volume name in the backup policy)`);
  }
  const users = await containersUsingVolume(podman, volume);
  const paused: string[] = [];
  const unpause = async (problems: string[]) => {
    for (const name of paused.splice(0)) await unpauseContainer(podman, name).catch((err: Error) => problems.push(err.message));
  };
  const pause = async () => {
    if (!options.pause) return;
    for (const user of users.filter((u) => u.state === 'running')) {
      await pauseContainer(podman, user.name);
      paused.push(user.name);
    }
  };
  const explainExit = (code: number) => (code === 1 ? 'files changed while they were read; back up with pause, or dump the database instead' : undefined);

  if (!options.image && (await hostTarPossible(info.mountpoint))) {
    const finish = async () => {
      const problems: string[] = [];
      await unpause(problems);
      if (problems.length) throw new SourceCommandError(`backup of volume ${volume}: cleanup failed: ${problems.join('; ')}`);
    };
    try {
      await pause();
      return openHostTar(info.mountpoint, `backup of volume ${volume} (tar on the node)`, finish, explainExit);
    } catch (err) {
      await finish().catch(() => undefined);
      throw err;
    }
  }

  const image = options.image ?? helperImageFrom(volume, users);
  const helper = await startVolumeHelper(podman, { image, volume, readOnly: true });
  const finish = async () => {
    const problems: string[] = [];
    await unpause(problems);
    await removeVolumeHelper(podman, helper).catch((err: Error) => problems.push(`${err.message} (remove container ${helper} by hand)`));
    if (problems.length) throw new SourceCommandError(`backup of volume ${volume}: cleanup failed: ${problems.join('; ')}`);
  };
  try {
    await pause();
    return await openExecStream(
      podman,
      { container: helper, cmd: VOLUME_TAR_CREATE, user: '0', what: `backup of volume ${volume} (tar in helper ${helper})`, explainExit },
      { finish, stopOnAbort: false },
    );
  } catch (err) {
    await finish().catch(() => undefined);
    throw err;
  }
}

export interface VolumeRestoreOptions {
  volume: string;
  // 'new' (default): create the volume and refuse an existing name. 'replace': empty an
  // existing volume and extract into it (stop the app first; a failure leaves it partly restored).
  mode?: 'new' | 'replace';
  // Image of the helper container (needs sh, sleep and tar): the app's image or any with busybox.
  image: string;
  // Recorded as a label on a new volume (e.g. the backup run id).
  restoredFrom?: string;
  signal?: AbortSignal;
}

// Extracts the tar stream into the volume; resolves when tar exited 0. A failed restore into a
// new volume removes that volume.
export async function restoreVolume(podman: PodmanClient, input: Readable, options: VolumeRestoreOptions): Promise<void> {
  const { volume } = options;
  const mode = options.mode ?? 'new';
  const existing = await findVolume(podman, volume);
  if (mode === 'new' && existing) {
    input.destroy();
    throw new SourceCommandError(`restore into new volume ${volume}: a volume with that name exists; choose another name, or replace it (with the app stopped)`);
  }
  if (mode === 'replace' && !existing) {
    input.destroy();
    throw new SourceCommandError(`restore over volume ${volume}: there is no such volume to replace; restore into a new volume instead`);
  }
  if (mode === 'new') await createVolume(podman, volume, { labels: options.restoredFrom ? { [VOLUME_RESTORE_LABEL]: options.restoredFrom } : {} });
  let helper: string | undefined;
  try {
    helper = await startVolumeHelper(podman, { image: options.image, volume, readOnly: false });
    const what = `restore of volume ${volume} (tar in helper ${helper})`;
    if (mode === 'replace') {
      const emptied = await runExec(podman, helper, VOLUME_EMPTY, { user: '0', timeoutMs: VOLUME_EMPTY_TIMEOUT_MS, signal: options.signal });
      if (emptied.exitCode !== 0) throw new SourceCommandError(`${what}: emptying it failed with exit code ${emptied.exitCode}: ${emptied.stderr.trim()}`, emptied.exitCode, emptied.stderr);
    }
    await runExecWithInput(podman, { container: helper, cmd: VOLUME_TAR_EXTRACT, user: '0', what }, input, { signal: options.signal });
  } catch (err) {
    if (!input.destroyed) input.destroy();
    if (helper) await removeVolumeHelper(podman, helper).catch(() => undefined);
    helper = undefined;
    if (mode === 'new') await removeVolume(podman, volume, { force: true, ignoreMissing: true }).catch(() => undefined);
    throw err;
  } finally {
    if (helper) await removeVolumeHelper(podman, helper);
  }
}

function helperImageFrom(volume: string, users: VolumeUser[]): string {
  const user = users.find((u) => u.state === 'running' && u.image) ?? users.find((u) => u.image);
  if (!user) throw new SourceCommandError(`backup of volume ${volume}: no container uses it, so there is no app image to read it with; give a helper image`);
  return user.image;
}
