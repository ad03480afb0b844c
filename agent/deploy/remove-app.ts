// Removing an app from this node (the signed RemoveApp command), in this order:
//   1 refuse while a deploy of the app runs (nothing changed); Lazarus forgets the app
//   2 close the app's gates (no new request reaches its containers)
//   3 stop (SIGTERM, SIGKILL after the app's stop grace) and remove every container labelled
//     podploy.app=APP, and forget each one's delivered secrets
//   4 drop the app's route and slots from the ingress (Caddy's config changes)
//   5 forget its live state; remove its release images (best effort) and, when asked, the named
//     volumes its containers mounted
// Idempotent: an app the node does not know is "removed" with a message that says so.
import type { Logger } from '../logger';
import { isPodmanNotFound, withContext, type PodmanClient } from '../podman/client';
import { DEFAULT_STOP_GRACE_SECONDS, listContainers, PODPLOY_LABELS, removeContainer, stopContainer } from '../podman/containers';
import { removeImage } from '../podman/images';
import { SLOT_NAMES } from '../ingress/slots';
import type { AppStateStore } from './app-state';
import { DeployRefusedError, type AppIngress } from './deploy-app';

const MS_PER_S = 1_000;
const VOLUME_REQUEST_TIMEOUT_MS = 30_000;

export interface AppRemoverDeps {
  podman: PodmanClient;
  deployer: { inProgress(app: string): { release: string; startedAt: Date; step: string } | undefined; readonly state: AppStateStore };
  ingress: { lookup(app: string): AppIngress | undefined; removeApp(app: string): Promise<boolean>; known(): Record<string, unknown> };
  forgetSecrets?: (container: string) => Promise<void>;
  // Lazarus: forgets the app (its desired state, restart history, probe) before any container
  // goes, so nothing is restarted or recreated while the app is removed.
  lazarus?: { forget(app: string): void };
  log?: Logger;
}

export interface RemoveAppResult {
  app: string;
  // false: the node knew nothing of the app (no container, no route, no state).
  known: boolean;
  containers: string[];
  images: string[];
  volumes: string[];
  // Named volumes left in place (remove_volumes was false), or that could not be removed.
  keptVolumes: string[];
  message: string;
}

export async function removeApp(app: string, options: { removeVolumes: boolean }, deps: AppRemoverDeps): Promise<RemoveAppResult> {
  const { podman, deployer, ingress, log } = deps;
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(app)) throw new DeployRefusedError(`remove app "${app}" refused: an app name is lowercase letters, digits and dashes`);
  const busy = deployer.inProgress(app);
  if (busy) {
    throw new DeployRefusedError(
      `app ${app}: a deploy of release ${busy.release} is in progress (started ${busy.startedAt.toISOString()}, at step "${busy.step}"); ` +
        'nothing was removed: wait for that deploy to finish, then try again',
    );
  }
  deps.lazarus?.forget(app);
  const live = deployer.state.live(app);
  const containers = await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: app } });
  const routed = app in ingress.known();
  if (!live && !routed && containers.length === 0) {
    return { app, known: false, containers: [], images: [], volumes: [], keptVolumes: [], message: `app ${app} is not on this node: nothing to remove` };
  }

  const gates = ingress.lookup(app);
  if (gates) for (const s of SLOT_NAMES) gates.gates[s].close();

  const volumeNames = new Set<string>();
  const imageIds = new Set<string>([...(live?.recentImages ?? []), ...(live ? [live.imageId] : [])]);
  const graceSeconds = Math.ceil((live?.stopGraceMs ?? DEFAULT_STOP_GRACE_SECONDS * MS_PER_S) / MS_PER_S);
  const removed: string[] = [];
  await Promise.all(
    containers.map(async (c) => {
      for (const v of await namedVolumes(podman, c.id)) volumeNames.add(v);
      if (c.imageId) imageIds.add(c.imageId);
      await stopContainer(podman, c.id, { graceSeconds }).catch((err) => {
        if (!isPodmanNotFound(err)) throw err;
      });
      if ((await removeContainer(podman, c.id, { force: true, ignoreMissing: true })).removed) removed.push(c.name);
      await deps.forgetSecrets?.(c.name);
    }),
  );

  await ingress.removeApp(app);
  deployer.state.forget(app);

  const images: string[] = [];
  for (const id of imageIds) {
    try {
      if ((await removeImage(podman, id, { force: false, ignoreMissing: true })).removed) images.push(id);
    } catch (err) {
      log?.warn({ event: 'image_remove_skipped', app, image: id, reason: (err as Error).message }, 'an image of a removed app was kept');
    }
  }

  const volumes: string[] = [];
  const keptVolumes: string[] = [];
  for (const name of volumeNames) {
    if (!options.removeVolumes) {
      keptVolumes.push(name);
      continue;
    }
    try {
      if (await removeVolume(podman, name)) volumes.push(name);
    } catch (err) {
      keptVolumes.push(name);
      log?.warn({ event: 'volume_remove_failed', app, volume: name, reason: (err as Error).message }, 'a volume of a removed app was kept');
    }
  }

  const parts = [
    `app ${app} removed`,
    `${removed.length} container(s)${removed.length ? ` (${removed.join(', ')})` : ''}`,
    `${images.length} image(s)`,
    options.removeVolumes ? `${volumes.length} volume(s)${volumes.length ? ` (${volumes.join(', ')})` : ''}` : '',
    keptVolumes.length ? `kept volume(s) ${keptVolumes.join(', ')}` : '',
  ].filter(Boolean);
  log?.info({ event: 'app_removed', app, containers: removed, images, volumes, keptVolumes }, parts.join('; '));
  return { app, known: true, containers: removed, images, volumes, keptVolumes, message: parts.join('; ') };
}

// The named volumes a container mounts (not binds, not anonymous ones Podman made for it).
async function namedVolumes(podman: PodmanClient, container: string): Promise<string[]> {
  try {
    const raw = await withContext(
      `container ${container}: inspect mounts`,
      podman.json<{ Mounts?: { Type?: string; Name?: string }[] | null }>(`/containers/${encodeURIComponent(container)}/json`, { timeoutMs: VOLUME_REQUEST_TIMEOUT_MS }),
    );
    return (raw.Mounts ?? []).filter((m) => m.Type === 'volume' && m.Name).map((m) => m.Name as string);
  } catch (err) {
    if (isPodmanNotFound(err)) return [];
    throw err;
  }
}

async function removeVolume(podman: PodmanClient, name: string): Promise<boolean> {
  try {
    await withContext(`volume ${name}: remove`, podman.call(`/volumes/${encodeURIComponent(name)}`, { method: 'DELETE', query: { force: false }, timeoutMs: VOLUME_REQUEST_TIMEOUT_MS }));
    return true;
  } catch (err) {
    if (isPodmanNotFound(err)) return false;
    throw err;
  }
}
