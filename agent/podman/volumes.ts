// Podman named volumes through the libpod REST API: inspect, create, remove, and which
// containers mount one.
import { isPodmanNotFound, podmanFilters, withContext, type PodmanClient } from './client';
import { CONTAINER_REQUEST_TIMEOUT_MS } from './containers';

export interface VolumeInfo {
  name: string;
  driver: string;
  mountpoint: string;
  labels: Record<string, string>;
  createdAt?: Date;
}

interface LibpodVolume {
  Name: string;
  Driver?: string;
  Mountpoint?: string;
  Labels?: Record<string, string> | null;
  CreatedAt?: string;
}

export async function inspectVolume(podman: PodmanClient, name: string): Promise<VolumeInfo> {
  const raw = await withContext(
    `volume ${name}: inspect`,
    podman.json<LibpodVolume>(`/volumes/${encodeURIComponent(name)}/json`, { timeoutMs: CONTAINER_REQUEST_TIMEOUT_MS }),
  );
  return toVolumeInfo(raw);
}

// inspectVolume, or undefined when there is no such volume.
export async function findVolume(podman: PodmanClient, name: string): Promise<VolumeInfo | undefined> {
  try {
    return await inspectVolume(podman, name);
  } catch (err) {
    if (isPodmanNotFound(err)) return undefined;
    throw err;
  }
}

// Creates the volume; Podman refuses a name that exists (HTTP 409/500 with its message).
export async function createVolume(podman: PodmanClient, name: string, options: { labels?: Record<string, string> } = {}): Promise<VolumeInfo> {
  const raw = await withContext(
    `volume ${name}: create`,
    podman.json<LibpodVolume>('/volumes/create', { method: 'POST', body: { Name: name, Label: options.labels ?? {} }, timeoutMs: CONTAINER_REQUEST_TIMEOUT_MS }),
  );
  return toVolumeInfo(raw);
}

export async function removeVolume(podman: PodmanClient, name: string, options: { force?: boolean; ignoreMissing?: boolean } = {}): Promise<{ removed: boolean }> {
  try {
    await withContext(
      `volume ${name}: remove`,
      podman.call(`/volumes/${encodeURIComponent(name)}`, { method: 'DELETE', query: { force: options.force ?? false }, timeoutMs: CONTAINER_REQUEST_TIMEOUT_MS }),
    );
    return { removed: true };
  } catch (err) {
    if (options.ignoreMissing && isPodmanNotFound(err)) return { removed: false };
    throw err;
  }
}

export interface VolumeUser {
  id: string;
  name: string;
  image: string;
  // running | paused | exited | created | …, as Podman says it.
  state: string;
}

// The containers (any state) that mount the named volume.
export async function containersUsingVolume(podman: PodmanClient, name: string): Promise<VolumeUser[]> {
  const list = await withContext(
    `volume ${name}: list the containers using it`,
    podman.json<{ Id: string; Names?: string[]; Image?: string; State?: string }[]>('/containers/json', {
      query: { all: true, filters: podmanFilters({ volume: [name] }) },
      timeoutMs: CONTAINER_REQUEST_TIMEOUT_MS,
    }),
  );
  return list.map((c) => ({ id: c.Id, name: c.Names?.[0] ?? '', image: c.Image ?? '', state: c.State ?? '' }));
}

function toVolumeInfo(raw: LibpodVolume): VolumeInfo {
  const created = raw.CreatedAt ? new Date(raw.CreatedAt) : undefined;
  return {
    name: raw.Name,
    driver: raw.Driver ?? 'local',
    mountpoint: raw.Mountpoint ?? '',
    labels: raw.Labels ?? {},
    createdAt: created && !Number.isNaN(created.getTime()) ? created : undefined,
  };
}
