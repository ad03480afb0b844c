// A dead container's network (rootless: its netns, slirp4netns and the rootlessport forward) is
// torn down by the cleanup process conmon starts, tens of milliseconds after the death. Podman
// starts a container whose state still holds that netns without setting up a new one, and the
// cleanup then removes it: the container runs with no working port forward. So a restart waits
// until Podman reports the old sandbox gone (measured here: 60-100 ms after a SIGKILL).
import { isPodmanNotFound, type PodmanClient } from '../podman/client';

export const NETWORK_RELEASE_POLL_MS = 5;
export const NETWORK_RELEASE_TIMEOUT_MS = 2_000;
const INSPECT_TIMEOUT_MS = 1_000;

interface SandboxView {
  State?: { Running?: boolean };
  NetworkSettings?: { SandboxKey?: string };
}

// Resolves once the container holds no network sandbox (or runs again, or is gone); after
// timeoutMs with released false.
export async function waitNetworkReleased(podman: PodmanClient, container: string, timeoutMs = NETWORK_RELEASE_TIMEOUT_MS): Promise<{ released: boolean; waitedMs: number }> {
  const t0 = performance.now();
  for (;;) {
    let view: SandboxView;
    try {
      view = await podman.json<SandboxView>(`/containers/${encodeURIComponent(container)}/json`, { timeoutMs: INSPECT_TIMEOUT_MS });
    } catch (err) {
      if (isPodmanNotFound(err)) return { released: true, waitedMs: performance.now() - t0 };
      throw err;
    }
    if (view.State?.Running || !view.NetworkSettings?.SandboxKey) return { released: true, waitedMs: performance.now() - t0 };
    if (performance.now() - t0 >= timeoutMs) return { released: false, waitedMs: performance.now() - t0 };
    await new Promise((r) => setTimeout(r, NETWORK_RELEASE_POLL_MS));
  }
}
