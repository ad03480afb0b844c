import { describe, expect, it } from 'vitest';
import { RESTART_DEFAULTS, type RestartPolicySettings } from '../../proto/lazarus-defaults';
import { nominalBackoffMs, RestartPolicy } from './restart-policy';

function clock(random = 0.5) {
  const c = { t: 1_000_000, r: random, now: () => c.t, random: () => c.r };
  return c;
}

const SHORT: RestartPolicySettings = { initialBackoffMs: 200, maxBackoffMs: 1_600, jitter: 0, resetAfterMs: 10_000, crashLoopRestarts: 5, crashLoopWindowMs: 60_000 };

describe('RestartPolicy', () => {
  it('restarts at once first, then 1 s doubling up to the 5 min cap with the defaults', () => {
    const c = clock();
    const p = new RestartPolicy({ ...RESTART_DEFAULTS, crashLoopRestarts: 1_000 }, c);
    const delays = Array.from({ length: 12 }, () => p.onFailure().delayMs);
    expect(delays).toEqual([0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000]);
    expect(p.restarts).toBe(12);
  });

  it('draws each wait from +-jitter around its nominal value', () => {
    const c = clock(0);
    const p = new RestartPolicy(RESTART_DEFAULTS, c);
    p.onFailure();
    expect(p.onFailure()).toMatchObject({ nominalMs: 1_000, delayMs: 800 });
    c.r = 0.999_999;
    expect(p.onFailure()).toMatchObject({ nominalMs: 2_000, delayMs: 2_400 });
    c.r = 0.5;
    expect(p.onFailure()).toMatchObject({ nominalMs: 4_000, delayMs: 4_000 });
  });

  it('marks a crash loop at the Nth restart within the window and then keeps retrying at the cap', () => {
    const c = clock();
    const p = new RestartPolicy(SHORT, c);
    const seen = [];
    for (let i = 0; i < 7; i++) {
      const d = p.onFailure();
      seen.push([d.delayMs, d.crashLoopEntered, d.restartsInWindow]);
      c.t += d.delayMs + 10;
    }
    expect(seen).toEqual([
      [0, false, 1],
      [200, false, 2],
      [400, false, 3],
      [800, false, 4],
      [1_600, true, 5],
      [1_600, false, 6],
      [1_600, false, 7],
    ]);
    expect(p.crashLooping).toBe(true);
  });

  it('does not count restarts that fell out of the window', () => {
    const c = clock();
    const p = new RestartPolicy({ ...SHORT, crashLoopRestarts: 3, crashLoopWindowMs: 1_000, resetAfterMs: 100_000 }, c);
    p.onFailure();
    c.t += 600;
    p.onFailure();
    c.t += 600;
    // The first one is 1,200 ms old now: two in the window.
    expect(p.onFailure()).toMatchObject({ restartsInWindow: 2, crashLoopEntered: false });
    c.t += 100;
    expect(p.onFailure()).toMatchObject({ restartsInWindow: 3, crashLoopEntered: true });
  });

  it('resets the back-off after resetAfterMs of running, and ends a crash loop then', () => {
    const c = clock();
    const p = new RestartPolicy({ ...SHORT, crashLoopRestarts: 2 }, c);
    p.onFailure();
    p.onStarted();
    c.t += 50;
    expect(p.onFailure()).toMatchObject({ delayMs: 200, crashLoopEntered: true, reset: false });
    p.onStarted();
    expect(p.healthyAt()).toBe(c.t + SHORT.resetAfterMs);
    c.t += SHORT.resetAfterMs - 1;
    expect(p.checkHealthy()).toEqual({ reset: false, crashLoopLeft: false });
    c.t += 1;
    expect(p.checkHealthy()).toEqual({ reset: true, crashLoopLeft: true });
    expect(p.crashLooping).toBe(false);
    expect(p.healthyAt()).toBeUndefined();
    expect(p.onFailure()).toMatchObject({ attempt: 1, delayMs: 0 });
  });

  it('resets at the next failure when the run lasted long enough without a check', () => {
    const c = clock();
    const p = new RestartPolicy(SHORT, c);
    p.onFailure();
    p.onFailure();
    p.onStarted();
    c.t += SHORT.resetAfterMs;
    expect(p.onFailure()).toMatchObject({ attempt: 1, delayMs: 0, reset: true });
  });

  it('does not reset while the container is down (stopped on purpose or waiting)', () => {
    const c = clock();
    const p = new RestartPolicy(SHORT, c);
    p.onFailure();
    p.onStarted();
    p.onStopped();
    c.t += SHORT.resetAfterMs * 2;
    expect(p.checkHealthy().reset).toBe(false);
    expect(p.onFailure()).toMatchObject({ attempt: 2, delayMs: 200 });
  });

  it('carries its history across an agent restart', () => {
    const c = clock();
    const p = new RestartPolicy({ ...SHORT, crashLoopRestarts: 2 }, c);
    p.onFailure();
    p.onFailure();
    const again = new RestartPolicy({ ...SHORT, crashLoopRestarts: 2 }, c, p.history());
    expect(again.crashLooping).toBe(true);
    expect(again.restarts).toBe(2);
    expect(again.onFailure()).toMatchObject({ attempt: 3, delayMs: 1_600 });
  });

  it('names the nominal steps', () => {
    expect([1, 2, 3, 4].map((a) => nominalBackoffMs(SHORT, a, false))).toEqual([0, 200, 400, 800]);
    expect(nominalBackoffMs(SHORT, 1, true)).toBe(1_600);
  });
});
