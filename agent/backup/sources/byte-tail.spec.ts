import { describe, expect, it } from 'vitest';
import { ExecFrameReader } from '../../podman/exec';
import { ByteTail } from './byte-tail';
import { volumeHelperCreateBody } from './volume-helper';

const frame = (stream: number, text: string) => {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
};

describe('ExecFrameReader (the exec API framing the sources read)', () => {
  it('splits frames cut at any byte into stdout and stderr (3, Podman\'s own text, goes with stderr)', () => {
    const wire = Buffer.concat([frame(1, 'hello '), frame(2, 'warn'), frame(1, 'world'), frame(3, '!')]);
    for (let cut = 1; cut < wire.length; cut++) {
      const out: Record<number, string> = { 1: '', 2: '' };
      const demux = new ExecFrameReader((stream, payload) => (out[stream] += payload.toString()));
      demux.push(wire.subarray(0, cut));
      demux.push(wire.subarray(cut));
      expect(out).toEqual({ 1: 'hello world', 2: 'warn!' });
    }
  });
});

describe('ByteTail', () => {
  it('keeps only the last bytes', () => {
    const tail = new ByteTail(10);
    for (const part of ['aaaaaaaa', 'bbbbbbbb', 'cccc']) tail.push(Buffer.from(part));
    expect(tail.text()).toBe('bbbbbbcccc');
    const one = new ByteTail(4);
    one.push(Buffer.from('0123456789'));
    expect(one.text()).toBe('6789');
  });
});

describe('volumeHelperCreateBody', () => {
  it('mounts the volume read-only at /data, without network, kept alive by sleep', () => {
    const body = volumeHelperCreateBody('h1', { image: 'localhost/app:1', volume: 'app-data', readOnly: true });
    expect(body).toMatchObject({
      name: 'h1',
      image: 'localhost/app:1',
      entrypoint: ['sleep'],
      command: ['604800'],
      labels: { 'podploy.backup-helper': 'app-data' },
      volumes: [{ Name: 'app-data', Dest: '/data', Options: ['ro'] }],
      netns: { nsmode: 'none' },
    });
  });
});
