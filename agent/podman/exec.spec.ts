import { describe, expect, it } from 'vitest';
import { ExecOutput } from './exec';

const frame = (stream: number, text: string) => {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
};

describe('ExecOutput', () => {
  it('splits framed output into stdout and stderr, however the chunks are cut', () => {
    const bytes = Buffer.concat([frame(1, 'hello '), frame(2, 'oops'), frame(1, 'world'), frame(3, '!')]);
    for (const size of [1, 3, 8, 9, bytes.length]) {
      const out = new ExecOutput(1_000);
      for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
      expect([out.text(1), out.text(2), out.truncated]).toEqual(['hello world', 'oops!', false]);
    }
  });

  it('keeps at most the limit of each stream and marks the output truncated', () => {
    const out = new ExecOutput(4);
    out.push(Buffer.concat([frame(1, 'abcdef'), frame(2, 'xy'), frame(1, 'ghi')]));
    expect([out.text(1), out.text(2), out.truncated]).toEqual(['abcd', 'xy', true]);
  });
});
