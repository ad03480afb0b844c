// One shared clock for "12s ago" texts, ticking once a second.
export const CLOCK_TICK_MS = 1000;

class Clock {
  now = $state(Date.now());
  constructor() {
    if (typeof window !== 'undefined') setInterval(() => (this.now = Date.now()), CLOCK_TICK_MS);
  }
}

export const clock = new Clock();
