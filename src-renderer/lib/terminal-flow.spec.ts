import { describe, expect, it } from 'vitest';
import { TERMINAL_FLOW } from '../../proto/terminal-defaults';
import { ACK_IDLE_MS, AckBatcher } from './terminal-flow';
import { manualTimers } from './terminal-test-timers';

describe('AckBatcher', () => {
  it('acknowledges in batches of at least ackEveryChars while output flows', () => {
    const sent: number[] = [];
    const timers = manualTimers();
    const b = new AckBatcher((n) => sent.push(n), 1000, timers);
    for (let i = 0; i < 25; i++) {
      b.receive(300);
      b.written(300);
    }
    expect(sent).toEqual([1200, 1200, 1200, 1200, 1200, 1200]);
    expect(b.unacked).toBe(300);
    timers.run(ACK_IDLE_MS);
    expect(sent.at(-1)).toBe(300);
    expect(b.acked).toBe(7500);
    expect(b.unacked).toBe(0);
  });

  it('acknowledges a small remainder once the output pauses, only once', () => {
    const sent: number[] = [];
    const timers = manualTimers();
    const b = new AckBatcher((n) => sent.push(n), TERMINAL_FLOW.ackEveryChars, timers);
    b.written(5);
    timers.run(ACK_IDLE_MS - 1);
    expect(sent).toEqual([]);
    b.written(7);
    timers.run(1);
    expect(sent).toEqual([12]);
    timers.run(10 * ACK_IDLE_MS);
    expect(sent).toEqual([12]);
    expect(timers.pending()).toBe(0);
  });

  it('sends nothing after close', () => {
    const sent: number[] = [];
    const timers = manualTimers();
    const b = new AckBatcher((n) => sent.push(n), 10, timers);
    b.written(5);
    b.close();
    b.written(50);
    timers.run(ACK_IDLE_MS);
    expect(sent).toEqual([]);
    expect(timers.pending()).toBe(0);
  });
});
