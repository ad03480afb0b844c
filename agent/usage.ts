// How busy the node is right now. One sampler per usage stream: cpu% is the share of busy time
// between two /proc/stat readings.
import os from 'node:os';
import type { UsageReport } from '../proto/gen/podploy/agent/v1/agent';
import { readText } from './facts';
import { diskSpace } from './host/disk';
import { cpuPercentBetween, parseMeminfo, parseProcStat, type CpuTimes } from './host/linux-files';
import type { PodmanClient } from './podman/client';
import { containerCounts } from './podman/system';

export const PROC_STAT = '/proc/stat';
export const PROC_MEMINFO = '/proc/meminfo';
// The first report of a stream has no earlier reading; it waits this long for a second one.
export const FIRST_CPU_SAMPLE_MS = 200;

export class UsageSampler {
  private previousCpu: CpuTimes | null = null;

  constructor(
    private readonly podman: PodmanClient,
    private readonly home = os.homedir(),
    private readonly now: () => number = Date.now,
  ) {}

  async sample(): Promise<UsageReport> {
    const atMs = this.now();
    const [cpuPercent, mem, disk, containers] = await Promise.all([
      this.cpuPercent(),
      readText(PROC_MEMINFO).then(parseMeminfo),
      diskSpace(this.home),
      containerCounts(this.podman).catch(() => ({ total: 0, running: 0 })),
    ]);
    const memTotal = mem.totalBytes || os.totalmem();
    const memAvailable = mem.totalBytes ? mem.availableBytes : os.freemem();
    return {
      atMs,
      cpuPercent,
      memUsedBytes: memTotal - memAvailable,
      memTotalBytes: memTotal,
      diskUsedBytes: disk.totalBytes - disk.freeBytes,
      diskTotalBytes: disk.totalBytes,
      containerCount: containers.total,
      containersRunning: containers.running,
      load1: os.loadavg()[0],
      agentRssBytes: process.memoryUsage.rss(),
    };
  }

  private async cpuPercent(): Promise<number> {
    let before = this.previousCpu;
    if (!before) {
      before = parseProcStat(await readText(PROC_STAT));
      await new Promise((r) => setTimeout(r, FIRST_CPU_SAMPLE_MS));
    }
    const after = parseProcStat(await readText(PROC_STAT));
    this.previousCpu = after;
    return cpuPercentBetween(before, after);
  }
}
