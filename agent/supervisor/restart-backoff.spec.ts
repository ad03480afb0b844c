import { describe, expect, it } from 'vitest';
import { HEALTHY_RESET_MS, RESTART_INITIAL_DELAY_MS, RESTART_MAX_DELAY_MS, nextRestartDelay } from './restart-backoff';

describe('nextRestartDelay', () => {
  it('starts at 250 ms, doubles up to 10 s, and resets after a healthy run', () => {
    const delays: number[] = [];
    let d: number | null = null;
    for (let i = 0; i < 8; i++) delays.push((d = nextRestartDelay(d, 1_000)));
    expect(delays).toEqual([250, 500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    expect(RESTART_INITIAL_DELAY_MS).toBe(250);
    expect(RESTART_MAX_DELAY_MS).toBe(10_000);
    expect(nextRestartDelay(10_000, HEALTHY_RESET_MS)).toBe(250);
    expect(nextRestartDelay(10_000, HEALTHY_RESET_MS - 1)).toBe(10_000);
  });
});
