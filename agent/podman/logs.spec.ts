import { describe, expect, it } from 'vitest';
import { LogDecoder, type LogLine } from './logs';

function frame(kind: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = kind;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('LogDecoder', () => {
  it('splits frames into lines per stream, across any chunk boundaries', () => {
    const bytes = Buffer.concat([frame(1, 'one\n'), frame(2, 'err-a\nerr-b\n'), frame(1, 'par'), frame(1, 'tial\r\n'), frame(2, 'no newline')]);
    for (const step of [1, 3, 7, bytes.length]) {
      const got: LogLine[] = [];
      const d = new LogDecoder((l) => got.push(l));
      for (let i = 0; i < bytes.length; i += step) d.push(bytes.subarray(i, i + step));
      d.end();
      expect(got).toEqual([
        { stream: 'stdout', line: 'one' },
        { stream: 'stderr', line: 'err-a' },
        { stream: 'stderr', line: 'err-b' },
        { stream: 'stdout', line: 'partial' },
        { stream: 'stderr', line: 'no newline' },
      ]);
    }
  });

  it('treats an unframed (TTY) stream as stdout', () => {
    const got: LogLine[] = [];
    const d = new LogDecoder((l) => got.push(l));
    d.push(Buffer.from('hello from a tty\nsecond'));
    d.end();
    expect(got).toEqual([
      { stream: 'stdout', line: 'hello from a tty' },
      { stream: 'stdout', line: 'second' },
    ]);
  });

  it("takes Podman's timestamp off each frame, and a partial line keeps its first one", () => {
    const got: LogLine[] = [];
    const d = new LogDecoder((l) => got.push(l), { timestamps: true });
    d.push(
      Buffer.concat([
        frame(1, '2026-11-27T05:14:12Z one\n'),
        frame(1, '2026-11-27T05:14:12Z par'),
        frame(2, '2026-11-27T05:14:13.5+01:00 2026-01-01T00:00:00Z is the app\'s own\n'),
        frame(1, '2026-11-27T05:14:14Z tial\n'),
      ]),
    );
    d.end();
    expect(got).toEqual([
      { stream: 'stdout', line: 'one', at: new Date('2026-11-27T05:14:12Z') },
      { stream: 'stderr', line: "2026-01-01T00:00:00Z is the app's own", at: new Date('2026-11-27T04:14:13.500Z') },
      { stream: 'stdout', line: 'partial', at: new Date('2026-11-27T05:14:12Z') },
    ]);
  });
});
