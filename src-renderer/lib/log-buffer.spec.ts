import { describe, expect, it } from 'vitest';
import type { LogChunk } from '../../src-main/api/contract';
import { LogBuffer, visibleRange } from './log-buffer';

const chunk = (from: number, n: number, stream: 'stdout' | 'stderr' = 'stdout'): LogChunk => ({
  lines: Array.from({ length: n }, (_, i) => ({ at: 0, stream, line: `line ${from + i}` })),
});

describe('LogBuffer', () => {
  it('keeps the newest lines within the cap and counts what it dropped', () => {
    const b = new LogBuffer(100, 10);
    for (let i = 0; i < 30; i++) b.append(chunk(i * 10, 10));
    expect(b.received).toBe(300);
    expect(b.entries.length).toBeLessThanOrEqual(110);
    expect(b.entries.at(-1)?.line).toBe('line 299');
    expect(b.dropped + b.entries.length).toBe(300);
    expect(b.view).toEqual(b.entries);
  });

  it('filters by substring (any case) and stream, incrementally, and notices always show', () => {
    const b = new LogBuffer(100, 10);
    b.append(chunk(0, 20));
    b.append({ lines: [{ at: 0, stream: 'stderr', line: 'LINE 5 failed' }] });
    b.setFilter({ text: 'line 5', stdout: true, stderr: true });
    expect(b.view.map((e) => e.line)).toEqual(['line 5', 'LINE 5 failed']);
    b.setFilter({ text: 'line 5', stdout: false, stderr: true });
    expect(b.view.map((e) => e.line)).toEqual(['LINE 5 failed']);
    b.append({ lines: [{ at: 0, stream: 'stderr', line: 'line 50 too' }, { at: 0, stream: 'stdout', line: 'line 51' }], notice: 'release 2 is live now' });
    expect(b.view.map((e) => e.line)).toEqual(['LINE 5 failed', 'line 50 too', 'release 2 is live now']);
    // Trimming drops filtered rows that left the buffer.
    for (let i = 0; i < 20; i++) b.append(chunk(100 + i * 10, 10));
    expect(b.view.every((e) => e.seq >= b.entries[0].seq)).toBe(true);
    b.setFilter({ text: '', stdout: true, stderr: true });
    expect(b.view.length).toBe(b.entries.length);
  });

  it('computes the window of rows to render', () => {
    expect(visibleRange(100_000, 18, 0, 360, 5)).toEqual({ start: 0, end: 25 });
    expect(visibleRange(100_000, 18, 18_000, 360, 5)).toEqual({ start: 995, end: 1025 });
    expect(visibleRange(10, 18, 0, 360, 5)).toEqual({ start: 0, end: 10 });
  });
});
