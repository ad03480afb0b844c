// An app's metrics samples (one per container every METRICS_SAMPLE_MS) -> the app's series for
// the charts: during a deploy two containers run, so the samples of one interval add up. Pure;
// unit-tested in metrics.spec.ts.
import type { MetricsPoint } from '../../src-main/api/contract';
import type { SeriesPoint } from './sparkline';

// The agent samples every container this often (issue 4: "a metrics sample every 10 s").
export const METRICS_SAMPLE_MS = 10_000;
// The charts show the last hour.
export const METRICS_WINDOW_MS = 3_600_000;
// More than this without a sample breaks a chart's line.
export const METRICS_GAP_MS = 3 * METRICS_SAMPLE_MS;

export interface AppSeries {
  cpu: SeriesPoint[];
  mem: SeriesPoint[];
  // The memory limit of the newest interval (summed over its containers); null: unlimited.
  memLimit: number | null;
}

// Keeps the samples of the window, oldest first, each (container, time) once.
export function mergeMetrics(list: readonly MetricsPoint[], incoming: readonly MetricsPoint[], sinceMs: number): MetricsPoint[] {
  const key = (p: MetricsPoint) => `${p.container}@${p.atMs}`;
  const byKey = new Map<string, MetricsPoint>();
  for (const p of [...list, ...incoming]) if (p.atMs >= sinceMs) byKey.set(key(p), p);
  return [...byKey.values()].sort((a, b) => a.atMs - b.atMs || a.container.localeCompare(b.container));
}

export function appSeries(points: readonly MetricsPoint[], bucketMs = METRICS_SAMPLE_MS): AppSeries {
  // bucket -> container -> its newest sample in that bucket
  const buckets = new Map<number, Map<string, MetricsPoint>>();
  for (const p of points) {
    const b = Math.floor(p.atMs / bucketMs);
    let m = buckets.get(b);
    if (!m) buckets.set(b, (m = new Map()));
    const prev = m.get(p.container);
    if (!prev || prev.atMs <= p.atMs) m.set(p.container, p);
  }
  const cpu: SeriesPoint[] = [];
  const mem: SeriesPoint[] = [];
  let memLimit: number | null = null;
  for (const b of [...buckets.keys()].sort((a, c) => a - c)) {
    const samples = [...buckets.get(b)!.values()];
    const t = Math.max(...samples.map((s) => s.atMs));
    cpu.push({ t, v: samples.reduce((n, s) => n + s.cpuPercent, 0) });
    mem.push({ t, v: samples.reduce((n, s) => n + s.memBytes, 0) });
    memLimit = samples.every((s) => s.memLimitBytes > 0) ? samples.reduce((n, s) => n + s.memLimitBytes, 0) : null;
  }
  return { cpu, mem, memLimit };
}
