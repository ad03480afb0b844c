import { describe, expect, it } from 'vitest';
import { FEED_IN_FLIGHT_CHARS, ScreenFeeder, type ReplayScreen } from './cast-screen';

// Stands in for xterm: writes are parsed later (drain), resizes and resets act at once; the log
// is what the screen saw, in order.
class ScreenLog implements ReplayScreen {
  log: string[] = [];
  parsed = '';
  maxPending = 0;
  private pending: { data: string; done: () => void }[] = [];
  write(data: string, done: () => void): void {
    this.pending.push({ data, done });
    this.maxPending = Math.max(this.maxPending, this.pending.reduce((n, p) => n + p.data.length, 0));
  }
  reset(): void {
    this.log.push('reset');
    this.parsed = '';
  }
  resize(cols: number, rows: number): void {
    this.log.push(`${cols}x${rows}@${this.parsed.length}`);
  }
  drain(): void {
    while (this.pending.length) {
      const p = this.pending.shift()!;
      this.parsed += p.data;
      p.done();
    }
  }
}

describe('ScreenFeeder', () => {
  it('keeps a resize after the output before it, and feeds large output in bounded pieces', () => {
    const screen = new ScreenLog();
    const feeder = new ScreenFeeder(screen, { cols: 80, rows: 24 });
    const big = 'x'.repeat(FEED_IN_FLIGHT_CHARS * 3 + 5);
    feeder.apply({ reset: false, ops: [{ kind: 'write', data: big }, { kind: 'resize', cols: 100, rows: 30 }, { kind: 'write', data: 'tail' }] });
    expect(screen.log).toEqual([]); // the resize waits for the output before it
    for (let i = 0; i < 20 && feeder.backlog; i++) screen.drain();
    expect(screen.parsed).toBe(big + 'tail');
    expect(screen.log).toEqual([`100x30@${big.length}`]);
    expect(screen.maxPending).toBeLessThanOrEqual(FEED_IN_FLIGHT_CHARS);
  });

  it('on a seek backwards drops what was still queued, resets and sizes the screen to the cast', () => {
    const screen = new ScreenLog();
    const feeder = new ScreenFeeder(screen, { cols: 80, rows: 24 });
    feeder.apply({ reset: false, ops: [{ kind: 'write', data: 'y'.repeat(FEED_IN_FLIGHT_CHARS * 4) }] });
    feeder.apply({ reset: true, ops: [{ kind: 'write', data: 'again' }] });
    for (let i = 0; i < 10 && feeder.backlog; i++) screen.drain();
    expect(screen.log).toEqual(['reset', '80x24@0']);
    expect(screen.parsed).toBe('again');
  });

  it('does nothing once stopped', () => {
    const screen = new ScreenLog();
    const feeder = new ScreenFeeder(screen, { cols: 80, rows: 24 });
    feeder.stop();
    feeder.apply({ reset: true, ops: [{ kind: 'write', data: 'x' }] });
    screen.drain();
    expect(screen.log).toEqual([]);
    expect(screen.parsed).toBe('');
  });
});
