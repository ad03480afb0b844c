import { describe, expect, it } from 'vitest';
import { CastFormatError, CastParser, MAX_CAST_PROBLEMS, parseCast, parseResize } from './cast-parse';

const HEADER = JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 1_700_000_000, env: { TERM: 'xterm-256color', SHELL: 7 }, podploy: { session: 'rec_1' } });
const line = (...e: unknown[]) => JSON.stringify(e);

describe('parseCast', () => {
  it('reads the header and output, input, resize and marker events in order', () => {
    const text = [HEADER, line(0.1, 'o', '$ '), line(0.5, 'i', 'ls\r'), line(0.6, 'o', 'a  b\r\n'), line(1, 'r', '120x40'), line(1.5, 'm', 'here'), ''].join('\n');
    const cast = parseCast(text);
    expect(cast.header).toEqual({ version: 2, width: 80, height: 24, timestamp: 1_700_000_000, env: { TERM: 'xterm-256color' } });
    expect(cast.events.map((e) => [e.time, e.code, e.data])).toEqual([
      [0.1, 'o', '$ '],
      [0.5, 'i', 'ls\r'],
      [0.6, 'o', 'a  b\r\n'],
      [1, 'r', '120x40'],
      [1.5, 'm', 'here'],
    ]);
    expect(cast.problems).toEqual([]);
  });

  it('reassembles lines split anywhere across chunks, UTF-8 text included, and CRLF line ends', () => {
    const text = [HEADER, line(0.2, 'o', 'héllo → 世界 🙂\r\n'), line(0.3, 'o', 'x')].join('\r\n');
    const whole = parseCast(text);
    for (const size of [1, 3, 7, 50]) {
      const p = new CastParser();
      for (let i = 0; i < text.length; i += size) p.push(text.slice(i, i + size));
      expect(p.end()).toEqual(whole);
    }
    expect(whole.events[0].data).toBe('héllo → 世界 🙂\r\n');
  });

  it('skips bad event lines and says which line and why, keeping the good ones', () => {
    const text = [
      HEADER,
      line(0.1, 'o', 'one'),
      '{not json',
      JSON.stringify({ t: 1 }),
      line('1', 'o', 'x'),
      line(0.2, 'o', 5),
      line(0.3, 'r', 'wide'),
      line(0.4, 'x', 'unknown codes are not faults'),
      line(0.05, 'o', 'back in time'),
      line(0.5, 'o', 'two'),
    ].join('\n');
    const cast = parseCast(text);
    expect(cast.events.map((e) => e.data)).toEqual(['one', 'back in time', 'two']);
    // The event that went back in time plays at the previous event's time.
    expect(cast.events[1].time).toBe(0.1);
    expect(cast.problems.map((p) => p.line)).toEqual([3, 4, 5, 6, 7, 9]);
    expect(cast.problems[0].message).toBe('not JSON');
    expect(cast.problems[5].message).toMatch(/goes back/);
  });

  it('keeps at most MAX_CAST_PROBLEMS problems and counts the rest', () => {
    const text = [HEADER, ...Array.from({ length: MAX_CAST_PROBLEMS + 7 }, () => 'garbage')].join('\n');
    const cast = parseCast(text);
    expect(cast.problems).toHaveLength(MAX_CAST_PROBLEMS);
    expect(cast.moreProblems).toBe(7);
  });

  it('refuses a cast without a valid v2 header', () => {
    expect(() => parseCast('')).toThrow(CastFormatError);
    expect(() => parseCast('[0.1, "o", "x"]')).toThrow(/not a JSON object/);
    expect(() => parseCast('hello')).toThrow(/not a JSON asciicast header/);
    expect(() => parseCast(JSON.stringify({ version: 1, width: 80, height: 24 }))).toThrow(/version 1/);
    expect(() => parseCast(JSON.stringify({ version: 2, width: 0, height: 24 }))).toThrow(/width and height/);
  });

  it('reads the idle time limit from the header', () => {
    expect(parseCast(JSON.stringify({ version: 2, width: 10, height: 5, idle_time_limit: 1.5 })).header.idleTimeLimit).toBe(1.5);
  });
});

describe('parseResize', () => {
  it('reads COLSxROWS only', () => {
    expect(parseResize('120x40')).toEqual({ cols: 120, rows: 40 });
    expect(parseResize('0x40')).toBeNull();
    expect(parseResize('120 x 40')).toBeNull();
    expect(parseResize('120x')).toBeNull();
  });
});
