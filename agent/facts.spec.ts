import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { collectFacts } from './facts';
import { PodmanClient } from './podman/client';
import { UsageSampler } from './usage';

const absentPodman = new PodmanClient('/nonexistent/podploy/podman.sock');

describe('facts and usage on this machine', () => {
  it('collects facts and degrades when Podman is absent', async () => {
    const f = await collectFacts({ podman: absentPodman });
    expect(f.hostname).toBe(os.hostname());
    expect(f.podmanVersion).toBe('');
    expect(f.nodeVersion).toBe(process.version);
    expect(f.cpuCount).toBeGreaterThan(0);
    expect(f.memTotalBytes).toBeGreaterThan(f.memFreeBytes);
    expect(f.diskTotalBytes).toBeGreaterThan(0);
    expect([1, 2]).toContain(f.cgroupsVersion);
    expect(f.arch).toMatch(/^(x86_64|aarch64)$/);
    expect(f.user).toBe(os.userInfo().username);
  });

  it('samples usage with zero containers when Podman is absent', async () => {
    const sampler = new UsageSampler(absentPodman);
    const a = await sampler.sample();
    const b = await sampler.sample();
    for (const u of [a, b]) {
      expect(u.cpuPercent).toBeGreaterThanOrEqual(0);
      expect(u.cpuPercent).toBeLessThanOrEqual(100);
      expect(u.memUsedBytes).toBeGreaterThan(0);
      expect(u.memTotalBytes).toBeGreaterThan(u.memUsedBytes);
      expect(u.diskTotalBytes).toBeGreaterThan(u.diskUsedBytes);
      expect(u.containerCount).toBe(0);
      expect(u.agentRssBytes).toBeGreaterThan(0);
    }
    expect(b.atMs).toBeGreaterThanOrEqual(a.atMs);
  });
});
