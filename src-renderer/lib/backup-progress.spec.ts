import { describe, expect, it } from 'vitest';
import { applyProgress, formatRate, initialProgress, progressLine, progressRate, RATE_WINDOW_MS } from './backup-progress';

const MiB = 1024 * 1024;
const ev = (plainBytes: number, phase = 'upload') => ({ phase, plainBytes, sealedBytes: plainBytes + 100, message: '' });

describe('backup progress', () => {
  it('has no rate until a second sample arrives', () => {
    const v = initialProgress(0);
    expect(progressRate(v)).toBeNull();
    expect(progressLine(v)).toBe('starting · 0 B read');
  });
  it('measures bytes per second from the arrival times', () => {
    let v = initialProgress(0);
    v = applyProgress(v, ev(10 * MiB), 1_000);
    v = applyProgress(v, ev(30 * MiB), 2_000);
    expect(progressRate(v)).toBe(15 * MiB);
    expect(formatRate(progressRate(v))).toBe('15 MiB/s');
    expect(progressLine(v)).toBe('upload · 30 MiB read · 30 MiB sealed · 15 MiB/s');
    expect(progressLine(v, 'restored')).toContain('30 MiB restored');
  });
  it('follows the current rate over the last window, not the average since the start', () => {
    let v = initialProgress(0);
    v = applyProgress(v, ev(100 * MiB), 1_000); // fast start
    for (let t = 2_000; t <= 20_000; t += 1_000) v = applyProgress(v, ev(100 * MiB + ((t - 1_000) / 1_000) * MiB), t); // then 1 MiB/s
    expect(v.samples[0].atMs).toBeGreaterThanOrEqual(20_000 - RATE_WINDOW_MS - 1_000);
    expect(progressRate(v)).toBe(MiB);
  });
  it('does not report a rate from samples too close together', () => {
    let v = initialProgress(0);
    v = applyProgress(v, ev(MiB), 100);
    expect(progressRate(v)).toBeNull();
  });
});
