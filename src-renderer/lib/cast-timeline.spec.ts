import { describe, expect, it } from 'vitest';
import type { CastEvent } from './cast-parse';
import { buildTimeline, CastPlayback, countAt, formatPlayTime, IDLE_CAP_SECONDS, inputEvents, opsBetween } from './cast-timeline';

const header = { version: 2 as const, width: 80, height: 24 };
const ev = (time: number, code: CastEvent['code'], data: string): CastEvent => ({ time, code, data });

// 0.5 s "a", a 60 s pause, "b", input, a resize, "c", "d" at the same time.
const EVENTS = [ev(0.5, 'o', 'a'), ev(60.5, 'o', 'b'), ev(61, 'i', 'ls\r'), ev(61.5, 'r', '100x30'), ev(62, 'o', 'c'), ev(62, 'o', 'd')];

describe('buildTimeline', () => {
  it('cuts pauses longer than the idle cap to the cap and keeps shorter ones', () => {
    const tl = buildTimeline({ header, events: EVENTS });
    expect(tl.at).toEqual([0.5, 0.5 + IDLE_CAP_SECONDS, 3, 3.5, 4, 4]);
    expect(tl.duration).toBe(4);
    expect(tl.initial).toEqual({ cols: 80, rows: 24 });
  });

  it("uses the cast's own idle_time_limit when it is lower", () => {
    const tl = buildTimeline({ header: { ...header, idleTimeLimit: 1 }, events: EVENTS });
    expect(tl.at[1]).toBe(1.5);
    expect(tl.idleCap).toBe(1);
  });

  it('has no duration without events', () => {
    expect(buildTimeline({ header, events: [] }).duration).toBe(0);
  });
});

describe('countAt', () => {
  it('counts the events at or before a time', () => {
    const tl = buildTimeline({ header, events: EVENTS });
    expect([-1, 0, 0.5, 0.6, 2.5, 3.99, 4, 99].map((t) => countAt(tl, t))).toEqual([0, 0, 1, 1, 2, 4, 6, 6]);
  });
});

describe('opsBetween', () => {
  it('merges output between resizes, applies resizes in place and skips input', () => {
    const tl = buildTimeline({ header, events: EVENTS });
    expect(opsBetween(tl, 0, 6)).toEqual([
      { kind: 'write', data: 'ab' },
      { kind: 'resize', cols: 100, rows: 30 },
      { kind: 'write', data: 'cd' },
    ]);
    expect(opsBetween(tl, 2, 4)).toEqual([{ kind: 'resize', cols: 100, rows: 30 }]);
    expect(opsBetween(tl, 4, 4)).toEqual([]);
  });
});

describe('CastPlayback', () => {
  function setup(speed = 1) {
    let now = 1000;
    const tl = buildTimeline({ header, events: EVENTS });
    const p = new CastPlayback(tl, () => now);
    p.setSpeed(speed);
    return { p, advance: (ms: number) => (now += ms) };
  }
  const written = (u: ReturnType<CastPlayback['tick']>) => (u?.ops ?? []).map((o) => (o.kind === 'write' ? o.data : `[${o.cols}x${o.rows}]`)).join('');

  it('plays output as its play time comes, then stops at the end', () => {
    const { p, advance } = setup();
    expect(p.play()).toBeNull();
    expect(p.tick()).toBeNull();
    advance(500);
    expect(written(p.tick())).toBe('a');
    advance(2000);
    expect(written(p.tick())).toBe('b');
    advance(10_000);
    expect(written(p.tick())).toBe('[100x30]cd');
    expect(p.playing).toBe(false);
    expect(p.position).toBe(4);
    expect(p.ended).toBe(true);
  });

  it('plays faster at a higher speed and keeps its place across pause and speed changes', () => {
    const { p, advance } = setup(4);
    p.play();
    advance(625); // 2.5 s of play time at 4x
    expect(written(p.tick())).toBe('ab');
    p.pause();
    advance(60_000);
    expect(p.tick()).toBeNull();
    expect(p.position).toBe(2.5);
    p.setSpeed(0.5);
    p.play();
    advance(1000); // 0.5 s of play time
    expect(p.position).toBe(3);
    expect(p.tick()).toBeNull(); // input changes nothing on the screen
  });

  it('seeks forwards by adding what happened in between, backwards by redrawing from a reset screen', () => {
    const { p } = setup();
    expect(p.seek(3.5)).toEqual({ reset: false, ops: [{ kind: 'write', data: 'ab' }, { kind: 'resize', cols: 100, rows: 30 }] });
    expect(p.seek(1)).toEqual({ reset: true, ops: [{ kind: 'write', data: 'a' }] });
    expect(p.seek(-5)).toEqual({ reset: true, ops: [] });
    expect(p.position).toBe(0);
    expect(p.seek(99).ops).toEqual([{ kind: 'write', data: 'ab' }, { kind: 'resize', cols: 100, rows: 30 }, { kind: 'write', data: 'cd' }]);
    expect(p.position).toBe(4);
  });

  it('starts over when played at the end', () => {
    const { p, advance } = setup();
    p.seek(99);
    const update = p.play();
    expect(update).toEqual({ reset: true, ops: [] });
    advance(500);
    expect(written(p.tick())).toBe('a');
  });
});

describe('inputEvents and formatPlayTime', () => {
  it('lists the typed input at its play time', () => {
    expect(inputEvents(buildTimeline({ header, events: EVENTS }))).toEqual([{ at: 3, data: 'ls\r' }]);
  });
  it('formats play time as m:ss or h:mm:ss', () => {
    expect([0, 5.9, 65, 720, 3723].map(formatPlayTime)).toEqual(['0:00', '0:05', '1:05', '12:00', '1:02:03']);
  });
});
