// Every METRICS_INTERVAL_MS, one metrics sample per running live container: one call to Podman's
// stats API for all containers (stream=false), CPU as the share of one core since the previous
// sample (since the container started, for its first), memory, and Lazarus's restart count.
import type { Logger } from '../logger';
import type { PodmanClient } from '../podman/client';
import type { MetricsSampleInput } from './event-publisher';

export const METRICS_INTERVAL_MS = 10_000;
// Podman's stats call reads cgroups of every container; slower than this is a problem to report.
export const METRICS_REQUEST_TIMEOUT_MS = 5_000;

export interface LiveContainer {
  container: string;
  release?: string;
}

export interface MetricsSamplerOptions {
  podman: PodmanClient;
  // The live container of every app (the Deployer's app state).
  live: () => Record<string, LiveContainer>;
  // Restarts Lazarus made of the app's container (Lazarus.restartsOf).
  restarts: (app: string) => number;
  publish: (sample: MetricsSampleInput) => void;
  log: Logger;
  intervalMs?: number;
}

// One entry of GET /libpod/containers/stats?stream=false.
interface PodmanStats {
  ContainerID: string;
  Name: string;
  CPU: number;
  CPUNano: number;
  SystemNano: number;
  MemUsage: number;
  MemLimit: number;
  PIDs: number;
}

export class MetricsSampler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private failing = false;
  // Per container id: its CPU time and the clock at the previous sample.
  private previous = new Map<string, { cpuNano: number; systemNano: number }>();

  constructor(private readonly opts: MetricsSamplerOptions) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      // A slow Podman must not pile samples up: a tick while one runs is skipped.
      if (!this.running) this.running = this.sampleOnce().then(() => undefined, () => undefined).finally(() => (this.running = null));
    }, this.opts.intervalMs ?? METRICS_INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  // Takes and publishes one sample of every running live container; returns them.
  async sampleOnce(): Promise<MetricsSampleInput[]> {
    const live = Object.entries(this.opts.live());
    if (live.length === 0) return [];
    let stats: PodmanStats[];
    try {
      const res = await this.opts.podman.json<{ Error: unknown; Stats: PodmanStats[] | null }>('/containers/stats', {
        query: { stream: false },
        timeoutMs: METRICS_REQUEST_TIMEOUT_MS,
      });
      stats = res.Stats ?? [];
      if (this.failing) this.opts.log.info({ event: 'metrics_resumed' }, 'container metrics are sampled again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.opts.log.warn({ event: 'metrics_failed', err: (err as Error).message }, `container metrics could not be sampled: ${(err as Error).message}; retrying every interval`);
      this.failing = true;
      return [];
    }
    const byName = new Map<string, PodmanStats>();
    for (const s of stats) {
      byName.set(s.Name, s);
      byName.set(s.ContainerID, s);
    }
    const atMs = Date.now();
    const samples: MetricsSampleInput[] = [];
    const seen = new Set<string>();
    for (const [app, { container, release }] of live) {
      const s = byName.get(container) ?? stats.find((x) => x.ContainerID.startsWith(container));
      if (!s || s.SystemNano === 0) continue;
      seen.add(s.ContainerID);
      const sample: MetricsSampleInput = {
        atMs,
        app,
        container,
        ...(release !== undefined ? { release } : {}),
        cpuPercent: round2(this.cpuPercent(s)),
        memBytes: s.MemUsage,
        memLimitBytes: s.MemLimit,
        restarts: this.restartsOf(app),
      };
      samples.push(sample);
      this.opts.publish(sample);
    }
    for (const id of this.previous.keys()) if (!seen.has(id)) this.previous.delete(id);
    return samples;
  }

  private cpuPercent(s: PodmanStats): number {
    const before = this.previous.get(s.ContainerID);
    this.previous.set(s.ContainerID, { cpuNano: s.CPUNano, systemNano: s.SystemNano });
    // A restarted container's CPU time starts again from 0: use Podman's figure then.
    if (!before || s.CPUNano < before.cpuNano || s.SystemNano <= before.systemNano) return s.CPU;
    return ((s.CPUNano - before.cpuNano) / (s.SystemNano - before.systemNano)) * 100;
  }

  private restartsOf(app: string): number {
    try {
      return this.opts.restarts(app);
    } catch {
      return 0;
    }
  }
}

function round2(n: number): number {
  return Number.isFinite(n) ? Math.round(n * 100) / 100 : 0;
}
