// A dead container's network (rootless: its netns, slirp4netns and the rootlessport forward) is
// torn down by the cleanup process conmon starts, tens of milliseconds after the death. Podman
// starts a container whose state still holds that netns without setting up a new one, and the
// cleanup then removes it: the container runs with no working port forward. So a restart waits
// until the old network is gone: its netns file removed (a stat, no lock taken; the cleanup
// holds the container's lock until it is done, so a start issued then waits for it), or, when
// the file is not known, until Podman's inspect shows no sandbox.
import { existsSync } from 'node:fs';
import { isPodmanNotFound, type PodmanClient } from '../podman/client';

export const NETWORK_RELEASE_POLL_MS = 1;
export const INSPECT_POLL_MS = 5;
export const NETWORK_RELEASE_TIMEOUT_MS = 2_000;
const INSPECT_TIMEOUT_MS = 1_000;

interface SandboxView {
  State?: { Running?: boolean };
  NetworkSettings?: { SandboxKey?: string };
}

async function inspect(podman: PodmanClient, container: string): Promise<SandboxView | undefined> {
  try {
    return await podman.json<SandboxView>(`/containers/${encodeURIComponent(container)}/json`, { timeoutMs: INSPECT_TIMEOUT_MS });
  } catch (err) {
    if (isPodmanNotFound(err)) return undefined;
    throw err;
  }
}

// The network namespace file of a running container; undefined when it has none.
export async function sandboxKeyOf(podman: PodmanClient, container: string): Promise<string | undefined> {
  const view = await inspect(podman, container);
  return view?.State?.Running ? view.NetworkSettings?.SandboxKey || undefined : undefined;
}

// Resolves once the container holds no network sandbox (or runs again, or is gone); after
// timeoutMs with released false.
export async function waitNetworkReleased(
  podman: PodmanClient,
  container: string,
  opts: { sandboxKey?: string; timeoutMs?: number } = {},
): Promise<{ released: boolean; waitedMs: number }> {
  const t0 = performance.now();
  const timeoutMs = opts.timeoutMs ?? NETWORK_RELEASE_TIMEOUT_MS;
  const waited = (released: boolean) => ({ released, waitedMs: performance.now() - t0 });
  for (;;) {
    if (opts.sandboxKey) {
      if (!existsSync(opts.sandboxKey)) return waited(true);
    } else {
      const view = await inspect(podman, container);
      if (!view || view.State?.Running || !view.NetworkSettings?.SandboxKey) return waited(true);
    }
    if (performance.now() - t0 >= timeoutMs) return waited(false);
    await new Promise((r) => setTimeout(r, opts.sandboxKey ? NETWORK_RELEASE_POLL_MS : INSPECT_POLL_MS));
  }
}
