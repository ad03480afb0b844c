// The small pure parts of terminal sessions: the node shell's command line, Podman's framed
// output read as it comes, the hijacked answer's head, resize coalescing.
import { describe, expect, it } from 'vitest';
import { ExecFrameReader, parseResponseHead } from '../podman/exec';
import { loginShell, nodeShellCommand, shellQuote } from './node-shell';
import { ResizeQueue } from './terminal-process';

const frame = (stream: number, text: string) => {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
};

describe('node shell command', () => {
  it('runs the login shell under script for a tty, the quoted command when there is one', () => {
    expect(nodeShellCommand({ tty: true, command: [] }, '/bin/bash')).toEqual({ file: 'script', args: ['-qfec', '/bin/bash -l', '/dev/null'], shown: ['/bin/bash', '-l'] });
    expect(nodeShellCommand({ tty: true, command: ['echo', "it's $HOME"] }, '/bin/bash').args[1]).toBe(`echo 'it'\\''s $HOME'`);
    expect(nodeShellCommand({ tty: false, command: ['ls', '-l'] }, '/bin/bash')).toEqual({ file: 'ls', args: ['-l'], shown: ['ls', '-l'] });
    expect(shellQuote(['a b', '', 'x=1'])).toBe(`'a b' '' x=1`);
  });

  it('falls back to /bin/sh for a user without a login shell', () => {
    expect(loginShell('/usr/sbin/nologin')).toBe('/bin/sh');
    expect(loginShell('/bin/false')).toBe('/bin/sh');
    expect(loginShell('')).toBe('/bin/sh');
    expect(loginShell('/bin/zsh')).toBe('/bin/zsh');
  });
});

describe('ExecFrameReader', () => {
  it('hands out each payload with its stream as it arrives, however the chunks are cut', () => {
    const bytes = Buffer.concat([frame(1, 'hello '), frame(2, 'oops'), frame(1, 'world'), frame(3, '!')]);
    for (const size of [1, 3, 8, 9, bytes.length]) {
      const got: Record<string, string> = { 1: '', 2: '' };
      const reader = new ExecFrameReader((stream, payload) => (got[stream] += payload.toString()));
      for (let i = 0; i < bytes.length; i += size) reader.push(bytes.subarray(i, i + size));
      expect(got).toEqual({ 1: 'hello world', 2: 'oops!' });
    }
  });
});

describe('parseResponseHead', () => {
  it("reads Podman's upgrade answer", () => {
    expect(parseResponseHead('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp')).toEqual({
      status: 101,
      headers: { 'content-type': 'application/vnd.docker.raw-stream', connection: 'Upgrade', upgrade: 'tcp' },
    });
  });
});

describe('ResizeQueue', () => {
  it('applies one at a time and only the latest of those that waited', async () => {
    const applied: string[] = [];
    const q = new ResizeQueue(async (c, r) => {
      applied.push(`${c}x${r}`);
      await new Promise((res) => setTimeout(res, 20));
    });
    void q.push(80, 24);
    void q.push(90, 30);
    await q.push(100, 40);
    expect(applied).toEqual(['80x24', '100x40']);
  });
});
