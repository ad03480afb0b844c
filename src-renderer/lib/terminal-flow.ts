// Output flow control, the client's half (TERMINAL_FLOW): output is acknowledged once xterm has
// written it, in batches of at least ackEveryChars, and what is left is acknowledged once the
// output pauses, so the control plane never waits on a small remainder. Pure (timers injected);
// unit-tested in terminal-flow.spec.ts.
import { TERMINAL_FLOW } from '../../proto/terminal-defaults';

// A remainder below ackEveryChars is acknowledged this long after the last write.
export const ACK_IDLE_MS = 50;

export interface AckTimers {
  set: (fn: () => void, ms: number) => unknown;
  clear: (t: unknown) => void;
}

const realTimers: AckTimers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
};

export class AckBatcher {
  private pending = 0;
  private timer: unknown = null;
  private closed = false;
  // Everything acknowledged so far, and everything received (for the page's counters).
  acked = 0;
  received = 0;

  constructor(
    private send: (chars: number) => void,
    private every: number = TERMINAL_FLOW.ackEveryChars,
    private timers: AckTimers = realTimers,
  ) {}

  // Output arrived (not yet on the screen).
  receive(chars: number): void {
    this.received += chars;
  }

  // Output is on the screen.
  written(chars: number): void {
    if (this.closed || chars <= 0) return;
    this.pending += chars;
    if (this.pending >= this.every) {
      this.flush();
      return;
    }
    if (this.timer === null) this.timer = this.timers.set(() => ((this.timer = null), this.flush()), ACK_IDLE_MS);
  }

  // Chars received and not yet acknowledged: what the control plane counts against highWater.
  get unacked(): number {
    return this.received - this.acked;
  }

  flush(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    if (this.closed || this.pending === 0) return;
    const chars = this.pending;
    this.pending = 0;
    this.acked += chars;
    this.send(chars);
  }

  close(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    this.closed = true;
  }
}
