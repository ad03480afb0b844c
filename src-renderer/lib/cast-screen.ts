// Feeds a replay into xterm in order and in bounded pieces: writes go out at most
// FEED_IN_FLIGHT_CHARS ahead of what xterm has parsed (xterm throws data away past its own
// buffer limit), resizes and resets wait for the writes before them, and a seek backwards drops
// whatever was still queued. Pure (the screen is an interface); unit-tested in cast-screen.spec.ts.
import type { ScreenUpdate } from './cast-timeline';

export const FEED_IN_FLIGHT_CHARS = 256 * 1024;
export const FEED_PIECE_CHARS = 64 * 1024;

export interface ReplayScreen {
  write(data: string, done: () => void): void;
  reset(): void;
  resize(cols: number, rows: number): void;
}

type Step = { kind: 'write'; data: string } | { kind: 'resize'; cols: number; rows: number } | { kind: 'reset' };

export class ScreenFeeder {
  private queue: Step[] = [];
  private inFlight = 0;
  private stopped = false;

  constructor(
    private screen: ReplayScreen,
    private initial: { cols: number; rows: number },
  ) {}

  // Chars queued or in xterm and not yet parsed.
  get backlog(): number {
    return this.inFlight + this.queue.reduce((n, s) => n + (s.kind === 'write' ? s.data.length : 0), 0);
  }

  apply(update: ScreenUpdate | null): void {
    if (!update || this.stopped) return;
    if (update.reset) this.queue = [{ kind: 'reset' }];
    for (const op of update.ops) {
      if (op.kind === 'resize') this.queue.push(op);
      else for (let i = 0; i < op.data.length; i += FEED_PIECE_CHARS) this.queue.push({ kind: 'write', data: op.data.slice(i, i + FEED_PIECE_CHARS) });
    }
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.queue = [];
  }

  private pump(): void {
    while (this.queue.length && !this.stopped) {
      const step = this.queue[0];
      if (step.kind === 'write') {
        if (this.inFlight + step.data.length > FEED_IN_FLIGHT_CHARS && this.inFlight > 0) return;
        this.queue.shift();
        const n = step.data.length;
        this.inFlight += n;
        this.screen.write(step.data, () => {
          this.inFlight -= n;
          this.pump();
        });
        continue;
      }
      if (this.inFlight > 0) return; // after the writes before it
      this.queue.shift();
      if (step.kind === 'reset') {
        this.screen.reset();
        this.screen.resize(this.initial.cols, this.initial.rows);
      } else this.screen.resize(step.cols, step.rows);
    }
  }
}
