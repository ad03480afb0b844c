// asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): one JSON header line, then one
// JSON array per event: [seconds since start, code, data]. Pure.

export interface AsciicastHeader {
  version: 2;
  width: number;
  height: number;
  // Unix seconds when the session started.
  timestamp: number;
  command?: string;
  title?: string;
  env: { TERM: string; SHELL?: string };
  // PodPloy's own: where and by whom the session ran (players ignore unknown keys).
  podploy: { session: string; node: string; app: string | null; container: string; actor: string; source: string };
}

// o: output, i: input, r: resize ("COLSxROWS").
export type AsciicastCode = 'o' | 'i' | 'r';
export type AsciicastEvent = [number, AsciicastCode, string];

export function headerLine(h: AsciicastHeader): string {
  return JSON.stringify(h) + '\n';
}

export function eventLine(seconds: number, code: AsciicastCode, data: string): string {
  return JSON.stringify([Math.round(seconds * 1e6) / 1e6, code, data]) + '\n';
}

export const resizeData = (cols: number, rows: number): string => `${cols}x${rows}`;

export interface ParsedCast {
  header: AsciicastHeader;
  events: AsciicastEvent[];
}

// Throws on a line that is not v2: the header first, then [number, string, string] events.
export function parseCast(text: string): ParsedCast {
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines.length === 0) throw new Error('the recording is empty: no asciicast header');
  const header = JSON.parse(lines[0]) as AsciicastHeader;
  if (header.version !== 2 || !Number.isInteger(header.width) || !Number.isInteger(header.height)) {
    throw new Error('the first line is not an asciicast v2 header');
  }
  const events = lines.slice(1).map((line, i) => {
    const e = JSON.parse(line) as unknown;
    if (!Array.isArray(e) || e.length !== 3 || typeof e[0] !== 'number' || typeof e[1] !== 'string' || typeof e[2] !== 'string') {
      throw new Error(`line ${i + 2} is not an asciicast v2 event`);
    }
    return e as AsciicastEvent;
  });
  return { header, events };
}
