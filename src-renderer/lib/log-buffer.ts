// The log view's memory: the newest LOG_BUFFER_MAX lines (older ones are dropped and counted),
// and the filtered view kept up to date incrementally as chunks arrive. Pure, no DOM.
import type { LogChunk } from '../../src-main/api/contract';

export const LOG_BUFFER_MAX = 100_000;
// Trimming waits until this many lines are over the cap, so it runs once per many chunks.
export const LOG_BUFFER_TRIM_SLACK = 10_000;

export interface LogEntry {
  seq: number;
  at: number;
  // 'notice': about the stream itself (a deploy replaced the container), not from the app.
  stream: 'stdout' | 'stderr' | 'notice';
  line: string;
  release?: number;
}

export interface LogFilter {
  text: string;
  stdout: boolean;
  stderr: boolean;
}

export const NO_FILTER: LogFilter = { text: '', stdout: true, stderr: true };

export function filterActive(f: LogFilter): boolean {
  return !!f.text || !f.stdout || !f.stderr;
}

// Case-insensitive substring and stream; notices always show.
export function matcher(f: LogFilter): (e: LogEntry) => boolean {
  const needle = f.text.toLowerCase();
  return (e) => {
    if (e.stream === 'notice') return true;
    if ((e.stream === 'stdout' && !f.stdout) || (e.stream === 'stderr' && !f.stderr)) return false;
    return !needle || e.line.toLowerCase().includes(needle);
  };
}

export class LogBuffer {
  entries: LogEntry[] = [];
  // What the filter lets through, oldest first (the same objects as entries).
  view: LogEntry[] = [];
  received = 0;
  dropped = 0;
  private seq = 0;
  private filter: LogFilter = NO_FILTER;
  private match = matcher(NO_FILTER);

  constructor(
    readonly max = LOG_BUFFER_MAX,
    readonly slack = LOG_BUFFER_TRIM_SLACK,
  ) {}

  append(chunk: LogChunk): void {
    const active = filterActive(this.filter);
    for (const l of chunk.lines) {
      const e: LogEntry = { seq: this.seq++, at: l.at, stream: l.stream, line: l.line, ...(l.release !== undefined ? { release: l.release } : {}) };
      this.entries.push(e);
      if (!active || this.match(e)) this.view.push(e);
    }
    this.received += chunk.lines.length;
    if (chunk.notice) {
      const e: LogEntry = { seq: this.seq++, at: Date.now(), stream: 'notice', line: chunk.notice };
      this.entries.push(e);
      this.view.push(e);
    }
    this.trim();
  }

  setFilter(f: LogFilter): void {
    this.filter = { ...f };
    this.match = matcher(this.filter);
    this.view = filterActive(this.filter) ? this.entries.filter(this.match) : this.entries.slice();
  }

  clear(): void {
    this.entries = [];
    this.view = [];
    this.received = 0;
    this.dropped = 0;
  }

  private trim(): void {
    if (this.entries.length <= this.max + this.slack) return;
    const excess = this.entries.length - this.max;
    this.entries.splice(0, excess);
    this.dropped += excess;
    const first = this.entries[0].seq;
    let i = 0;
    while (i < this.view.length && this.view[i].seq < first) i++;
    if (i) this.view.splice(0, i);
  }
}

// The rows a viewport of `height` px scrolled to `scrollTop` shows, with some rows around it.
export function visibleRange(count: number, rowHeight: number, scrollTop: number, height: number, overscan = 10): { start: number; end: number } {
  const start = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const end = Math.min(count, Math.ceil((scrollTop + height) / rowHeight) + overscan);
  return { start, end: Math.max(start, end) };
}
