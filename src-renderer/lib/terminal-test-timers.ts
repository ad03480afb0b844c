// Test helper: timers driven by hand, for the flow-control and resize specs.
import type { AckTimers } from './terminal-flow';

export function manualTimers(): AckTimers & { run(ms: number): void; pending(): number } {
  let now = 0;
  let seq = 0;
  const queue = new Map<number, { at: number; fn: () => void }>();
  return {
    set: (fn, ms) => (queue.set(++seq, { at: now + ms, fn }), seq),
    clear: (t) => void queue.delete(t as number),
    run(ms) {
      const until = now + ms;
      for (;;) {
        const next = [...queue.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
        if (!next) break;
        queue.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = until;
    },
    pending: () => queue.size,
  };
}

