// What the agent asks Podman about the node: its version and how many containers exist.
import type { PodmanClient } from './client';

interface LibpodVersion {
  Version?: string;
  Components?: { Name?: string; Version?: string }[];
}

interface LibpodContainer {
  State?: string;
}

export interface ContainerCounts {
  total: number;
  running: number;
}

export async function podmanVersion(podman: PodmanClient): Promise<string> {
  const v = await podman.getJson<LibpodVersion>('/version');
  return v.Version ?? v.Components?.find((c) => c.Name === 'Podman Engine')?.Version ?? '';
}

// Resolves once Podman's REST service answers (the supervisor may start it after the agent);
// rejects with the last error after deadlineMs.
export async function waitForPodman(podman: PodmanClient, deadlineMs: number, everyMs = 250): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      await podmanVersion(podman);
      return;
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}

export async function containerCounts(podman: PodmanClient): Promise<ContainerCounts> {
  const list = await podman.getJson<LibpodContainer[]>('/containers/json?all=true');
  return { total: list.length, running: list.filter((c) => c.State === 'running').length };
}
