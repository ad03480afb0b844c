// Test helper (not product code): a rootful Podman REST socket of a spec's own, started with
// `podman system service`, with the local test app image (test/images/build-test-app.sh) built.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { PodmanClient } from './client';
import { listContainers, PODPLOY_LABELS, removeContainer } from './containers';
import { podmanVersion } from './system';

const TEST_APP_SCRIPT = join(import.meta.dirname, '..', '..', 'test', 'images', 'build-test-app.sh');
const START_DEADLINE_MS = 10_000;

export async function startPodmanService(socket: string): Promise<ChildProcess> {
  execFileSync('bash', [TEST_APP_SCRIPT], { stdio: 'pipe' });
  const service = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { stdio: 'ignore' });
  const podman = new PodmanClient(socket);
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    try {
      await podmanVersion(podman);
      return service;
    } catch (err) {
      if (Date.now() > deadline) {
        service.kill('SIGTERM');
        throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

// Removes the containers labelled with `app` (and their anonymous volumes when asked), then
// `beforeStop` (e.g. the spec's images), stops the service and removes its socket.
export async function stopPodmanService(
  service: ChildProcess | undefined,
  socket: string,
  cleanup: { app?: string; volumes?: boolean; beforeStop?: (podman: PodmanClient) => Promise<void> } = {},
): Promise<void> {
  if (service) {
    const podman = new PodmanClient(socket);
    if (cleanup.app) {
      for (const c of await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: cleanup.app } }).catch(() => [])) {
        await removeContainer(podman, c.id, { force: true, volumes: cleanup.volumes, ignoreMissing: true }).catch(() => undefined);
      }
    }
    await cleanup.beforeStop?.(podman).catch(() => undefined);
    service.kill('SIGTERM');
  }
  rmSync(socket, { force: true });
}
