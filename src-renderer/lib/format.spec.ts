import { describe, expect, it } from 'vitest';
import { formatBytes, formatBytesPair, formatDuration, formatPercent, parseSshAddress, ratio, relativeTime, softBreaks, suggestNodeName } from './format';

describe('format', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(4 * 1024 ** 3)).toBe('4.0 GiB');
    expect(formatBytes(120 * 1024 ** 3)).toBe('120 GiB');
    expect(formatBytes(null)).toBe('—');
    expect(formatBytesPair(3.1 * 1024 ** 3, 8 * 1024 ** 3)).toBe('3.1 / 8.0 GiB');
    expect(formatBytesPair(512 * 1024 ** 2, 8 * 1024 ** 3)).toBe('512 MiB / 8.0 GiB');
  });
  it('formats percentages, ratios and durations', () => {
    expect(formatPercent(3.14159)).toBe('3.1%');
    expect(formatPercent(42.4)).toBe('42%');
    expect(ratio(1, 0)).toBe(0);
    expect(ratio(3, 2)).toBe(100);
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(2300)).toBe('2.3 s');
    expect(formatDuration(125_000)).toBe('2m 5s');
    expect(formatDuration(undefined)).toBe('');
  });
  it('tells relative times', () => {
    const now = 1_000_000_000;
    expect(relativeTime(null, now)).toBe('never');
    expect(relativeTime(now - 1000, now)).toBe('just now');
    expect(relativeTime(now - 12_000, now)).toBe('12s ago');
    expect(relativeTime(now - 5 * 60_000, now)).toBe('5m ago');
    expect(relativeTime(now - 3 * 3_600_000, now)).toBe('3h ago');
    expect(relativeTime(now - 2 * 86_400_000, now)).toBe('2d ago');
    expect(relativeTime(now + 5000, now)).toBe('in 5s');
  });
  it('parses SSH addresses', () => {
    expect(parseSshAddress('ssh://deploy@10.0.0.5:2222')).toEqual({ user: 'deploy', host: '10.0.0.5', port: 2222 });
    expect(parseSshAddress('root@web-1.example.com')).toEqual({ user: 'root', host: 'web-1.example.com', port: 22 });
    expect(parseSshAddress('ssh://u@[2001:db8::1]:22')).toEqual({ user: 'u', host: '2001:db8::1', port: 22 });
    expect(parseSshAddress('web-1')).toBeNull();
    expect(parseSshAddress('ssh://u@h:70000')).toBeNull();
  });
  it('suggests valid node names', () => {
    expect(suggestNodeName('Web-1.Example.com')).toBe('web-1');
    expect(suggestNodeName('10.0.0.5')).toBe('node-10-0-0-5');
    expect(suggestNodeName('2001:db8::1')).toBe('node-2001-db8-1');
  });
  it('splits long tokens where they may wrap', () => {
    expect(softBreaks('SHA256:t0I7HXm/bPM0yK+N9vLy')).toEqual(['SHA256:', 't0I7HXm/bPM0yK+N9vLy']);
    expect(softBreaks('ssh://deploy@10.0.0.5:2222')).toEqual(['ssh://', 'deploy', '@10.0.0.5', ':2222']);
    expect(softBreaks('deploy@web-1')).toEqual(['deploy', '@web-1']);
    expect(softBreaks('plain')).toEqual(['plain']);
    expect(softBreaks('SHA256:abc').join('')).toBe('SHA256:abc');
  });
});
