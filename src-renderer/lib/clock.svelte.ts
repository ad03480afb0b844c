// One shared clock for "12s ago" texts, ticking once a second.
export const CLOCK_TICK_MS = 1000;

class Clock {
  now = $state(Date.now());
  constructor() {
    if (typeof window !== 'undefined') setInterval(() => (this.now = Date.now()), CLOCK_TICK_MS);
  }

  // Milliseconds since `t`; never negative, though `t` may be newer than the last tick.
  since(t: number): number {
    return Math.max(0, this.now - t);
  }
}

export const clock = new Clock();
