// asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header line, then one
// JSON array [time, code, data] per line. The text arrives in chunks that may split a line
// anywhere, so the parser keeps the unfinished tail. A bad event line is skipped and reported;
// a bad header makes the whole cast unreadable. Pure; unit-tested in cast-parse.spec.ts.

export interface CastHeader {
  version: 2;
  width: number;
  height: number;
  timestamp?: number;
  idleTimeLimit?: number;
  command?: string;
  title?: string;
  env?: Record<string, string>;
}

// o: output, i: input, r: resize ("COLSxROWS"), m: marker. Other codes are skipped.
export type CastCode = 'o' | 'i' | 'r' | 'm';

export interface CastEvent {
  // Seconds since the session started.
  time: number;
  code: CastCode;
  data: string;
}

export interface CastProblem {
  line: number;
  message: string;
}

export interface Cast {
  header: CastHeader;
  events: CastEvent[];
  problems: CastProblem[];
  // Problems past MAX_CAST_PROBLEMS are counted, not kept.
  moreProblems: number;
}

export const MAX_CAST_PROBLEMS = 50;
const CODES: readonly string[] = ['o', 'i', 'r', 'm'];

export class CastFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CastFormatError';
  }
}

export class CastParser {
  private tail = '';
  private lineNo = 0;
  private header: CastHeader | null = null;
  private lastTime = 0;
  private readonly events: CastEvent[] = [];
  private readonly problems: CastProblem[] = [];
  private moreProblems = 0;

  // Throws CastFormatError when the header line is not an asciicast v2 header.
  push(text: string): void {
    const lines = (this.tail + text).split('\n');
    this.tail = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  end(): Cast {
    if (this.tail) {
      const last = this.tail;
      this.tail = '';
      this.line(last);
    }
    if (!this.header) throw new CastFormatError('the recording is empty: it has no asciicast header line');
    return { header: this.header, events: this.events, problems: this.problems, moreProblems: this.moreProblems };
  }

  private line(raw: string): void {
    this.lineNo += 1;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    if (!this.header) {
      this.header = parseHeader(line);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.problem('not JSON');
      return;
    }
    if (!Array.isArray(value) || value.length < 3) {
      this.problem('not an event: expected [time, code, data]');
      return;
    }
    const [time, code, data] = value as unknown[];
    if (typeof time !== 'number' || !Number.isFinite(time) || time < 0) {
      this.problem('the time is not a number of seconds ≥ 0');
      return;
    }
    if (typeof code !== 'string' || typeof data !== 'string') {
      this.problem('the code and the data must be strings');
      return;
    }
    if (!CODES.includes(code)) return; // unknown codes are for other players; not a fault
    if (code === 'r' && !parseResize(data)) {
      this.problem(`a resize must read COLSxROWS, got "${data.slice(0, 20)}"`);
      return;
    }
    // Events must not go back in time; one that does plays at the previous event's time.
    const at = Math.max(time, this.lastTime);
    if (time < this.lastTime) this.problem(`the time goes back (${time} after ${this.lastTime})`);
    this.lastTime = at;
    this.events.push({ time: at, code: code as CastCode, data });
  }

  private problem(message: string): void {
    if (this.problems.length < MAX_CAST_PROBLEMS) this.problems.push({ line: this.lineNo, message });
    else this.moreProblems += 1;
  }
}

function parseHeader(line: string): CastHeader {
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new CastFormatError('the first line is not a JSON asciicast header');
  }
  if (!h || typeof h !== 'object' || Array.isArray(h)) throw new CastFormatError('the first line is not a JSON object (the asciicast header)');
  if (h.version !== 2) throw new CastFormatError(`only asciicast version 2 is supported, this is version ${String(h.version)}`);
  const width = h.width;
  const height = h.height;
  if (!isSize(width) || !isSize(height)) throw new CastFormatError('the header has no valid width and height');
  const header: CastHeader = { version: 2, width, height };
  if (typeof h.timestamp === 'number') header.timestamp = h.timestamp;
  if (typeof h.idle_time_limit === 'number' && h.idle_time_limit > 0) header.idleTimeLimit = h.idle_time_limit;
  if (typeof h.command === 'string') header.command = h.command;
  if (typeof h.title === 'string') header.title = h.title;
  if (h.env && typeof h.env === 'object') {
    header.env = Object.fromEntries(Object.entries(h.env as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }
  return header;
}

function isSize(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 10_000;
}

// "120x40" -> { cols: 120, rows: 40 }; null when it does not read so.
export function parseResize(data: string): { cols: number; rows: number } | null {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(data.trim());
  if (!m) return null;
  const cols = Number(m[1]);
  const rows = Number(m[2]);
  return cols > 0 && rows > 0 ? { cols, rows } : null;
}

export function parseCast(text: string): Cast {
  const p = new CastParser();
  p.push(text);
  return p.end();
}
