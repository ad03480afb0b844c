// The short-lived helper container a volume backup or restore runs in: the given image, the
// volume at /data, no network, kept alive by `sleep` so tar runs in it through exec; always
// removed afterwards (force), labelled so a sweep can find one left by a crashed agent.
import { randomBytes } from 'node:crypto';
import type { PodmanClient } from '../../podman/client';
import { containerCreateBody, CONTAINER_REQUEST_TIMEOUT_MS, removeContainer, startContainer } from '../../podman/containers';
import { withContext } from '../../podman/client';
import { SourceCommandError } from './exec-process';

export const VOLUME_HELPER_LABEL = 'podploy.backup-helper';
export const VOLUME_MOUNT_PATH = '/data';
// A helper outlives no backup by much: a crashed agent's helper exits on its own after this.
export const VOLUME_HELPER_LIFETIME_SECONDS = 7 * 24 * 3600;

export interface VolumeHelperSpec {
  image: string;
  volume: string;
  readOnly: boolean;
}

// The libpod create body: pure, so a test can assert it.
export function volumeHelperCreateBody(name: string, spec: VolumeHelperSpec): Record<string, unknown> {
  return {
    ...containerCreateBody({
      name,
      image: spec.image,
      entrypoint: ['sleep'],
      command: [String(VOLUME_HELPER_LIFETIME_SECONDS)],
      labels: { [VOLUME_HELPER_LABEL]: spec.volume },
      stopGraceSeconds: 0,
    }),
    volumes: [{ Name: spec.volume, Dest: VOLUME_MOUNT_PATH, Options: spec.readOnly ? ['ro'] : ['rw'] }],
    netns: { nsmode: 'none' },
  };
}

// Creates and starts a helper; returns its name. Nothing is left behind when this fails.
export async function startVolumeHelper(podman: PodmanClient, spec: VolumeHelperSpec): Promise<string> {
  const name = `podploy-volume-helper-${randomBytes(6).toString('hex')}`;
  const what = `helper container for volume ${spec.volume} (image ${spec.image})`;
  try {
    await withContext(`${what}: create`, podman.json('/containers/create', { method: 'POST', body: volumeHelperCreateBody(name, spec), timeoutMs: CONTAINER_REQUEST_TIMEOUT_MS }));
    await startContainer(podman, name);
    return name;
  } catch (err) {
    await removeVolumeHelper(podman, name).catch(() => undefined);
    throw new SourceCommandError(`${what} did not start: ${(err as Error).message}. The image must be on this node and have sleep and tar (busybox is enough); give another helper image otherwise`);
  }
}

export async function removeVolumeHelper(podman: PodmanClient, name: string): Promise<void> {
  await removeContainer(podman, name, { force: true, ignoreMissing: true });
}
