import { describe, expect, it } from 'vitest';
import { cpuPercentBetween, hasSubIdRange, parseMeminfo, parseOsRelease, parseProcStat } from './linux-files';

describe('linux file parsers', () => {
  it('reads /etc/os-release', () => {
    const text = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n';
    expect(parseOsRelease(text)).toEqual({ id: 'debian', versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)' });
    expect(parseOsRelease('')).toEqual({ id: '', versionId: '', prettyName: '' });
  });

  it('reads MemTotal and MemAvailable, falling back to free+buffers+cached', () => {
    expect(parseMeminfo('MemTotal:       16000 kB\nMemFree:  1000 kB\nMemAvailable:    8000 kB\n')).toEqual({
      totalBytes: 16000 * 1024,
      availableBytes: 8000 * 1024,
    });
    expect(parseMeminfo('MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n').availableBytes).toBe(35 * 1024);
  });

  it('computes cpu percent from two /proc/stat readings', () => {
    const a = parseProcStat('cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n');
    const b = parseProcStat('cpu  150 0 150 900 0 0 0 0 0 0\n');
    expect(a).toEqual({ idle: 800, total: 1000 });
    expect(cpuPercentBetween(a, b)).toBe(50);
    expect(cpuPercentBetween(a, a)).toBe(0);
  });

  it('finds a subordinate id range by name or uid', () => {
    const text = 'alice:100000:65536\n1001:165536:65536\nbob:0:0\n';
    expect(hasSubIdRange(text, 'alice', 1000)).toBe(true);
    expect(hasSubIdRange(text, 'carol', 1001)).toBe(true);
    expect(hasSubIdRange(text, 'bob', 1002)).toBe(false);
    expect(hasSubIdRange('', 'alice', 1000)).toBe(false);
  });
});
