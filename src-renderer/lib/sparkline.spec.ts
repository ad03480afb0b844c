import { describe, expect, it } from 'vitest';
import { sparkline } from './sparkline';

const base = { width: 100, height: 22, fromMs: 0, toMs: 100, gapMs: 30, pad: 1 };

describe('sparkline', () => {
  it('maps time to x across the window and the value range to y, top is high', () => {
    const s = sparkline(
      [
        { t: 0, v: 10 },
        { t: 50, v: 30 },
        { t: 100, v: 20 },
      ],
      { ...base, gapMs: 60 },
    );
    expect(s.lines).toEqual(['M0 21L50 1L100 11']);
    expect(s.areas).toEqual(['M0 22L0 21L50 1L100 11L100 22Z']);
    expect([s.lo, s.hi, s.min, s.max]).toEqual([10, 30, 10, 30]);
    expect(s.last).toEqual({ t: 100, v: 20 });
    expect([s.lastX, s.lastY]).toEqual([100, 11]);
  });

  it('starts the scale at the floor and keeps a minimum top', () => {
    const s = sparkline(
      [
        { t: 0, v: 0.2 },
        { t: 20, v: 0.4 },
      ],
      { ...base, floor: 0, minTop: 1 },
    );
    expect([s.lo, s.hi]).toEqual([0, 1]);
    // 0.4 of 1 over 20 px of drawing height: 21 - 8 = 13.
    expect(s.lines).toEqual(['M0 17L20 13']);
    // A value above the minimum top raises it.
    expect(sparkline([{ t: 0, v: 250 }], { ...base, floor: 0, minTop: 1 }).hi).toBe(250);
  });

  it('breaks the line where samples are missing and draws a lone sample as a dot', () => {
    const s = sparkline(
      [
        { t: 0, v: 1 },
        { t: 10, v: 1 },
        { t: 60, v: 1 },
        { t: 70, v: 1 },
        { t: 100, v: 1 },
      ],
      base,
    );
    expect(s.lines).toHaveLength(2);
    expect(s.lines[0]).toMatch(/^M0 /);
    expect(s.lines[1]).toMatch(/^M60 .*L100 /);
    const lone = sparkline([{ t: 40, v: 5 }], base);
    expect(lone.lines).toEqual(['M40 21h0.1']);
    expect(lone.areas).toEqual([]);
  });

  it('handles a flat series, samples outside the window and no samples', () => {
    const flat = sparkline(
      [
        { t: 10, v: 5 },
        { t: 20, v: 5 },
      ],
      base,
    );
    expect([flat.lo, flat.hi]).toEqual([5, 10]);
    expect(flat.lines).toEqual(['M10 21L20 21']);
    const outside = sparkline(
      [
        { t: -5, v: 100 },
        { t: 50, v: 1 },
        { t: 150, v: 100 },
      ],
      base,
    );
    expect(outside.max).toBe(1);
    const none = sparkline([], { ...base, floor: 0, minTop: 1 });
    expect(none).toMatchObject({ lines: [], min: null, max: null, last: null, lo: 0, hi: 1 });
  });
});
