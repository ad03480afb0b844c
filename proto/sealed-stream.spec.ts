import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { describe, expect, it } from 'vitest';
import {
  SealedStreamFormatError,
  SealedStreamOrderError,
  SealedStreamTamperedError,
  SealedStreamTruncatedError,
  SealedStreamWrongKeyError,
  SealedStreamWriter,
  createOpenStream,
  createSealStream,
  openBuffer,
  salvageBuffer,
  sealBuffer,
} from './sealed-stream';

const HEADER = 52;
const FRAME_HEADER = 13;
const TAG = 16;

/** Splits a sealed buffer into header and whole frames. */
function split(sealed: Buffer): { header: Buffer; frames: Buffer[] } {
  const frames: Buffer[] = [];
  let off = HEADER;
  while (off < sealed.length) {
    const len = sealed.readUInt32BE(off);
    frames.push(sealed.subarray(off, off + FRAME_HEADER + len));
    off += FRAME_HEADER + len;
  }
  return { header: sealed.subarray(0, HEADER), frames };
}

function flipped(buf: Buffer, at: number): Buffer {
  const copy = Buffer.from(buf);
  copy[at] ^= 0x01;
  return copy;
}

describe('sealed stream (chunked XChaCha20-Poly1305)', () => {
  const key = randomBytes(32);
  const chunkBytes = 1024;

  it.each([
    ['empty', 0],
    ['one byte', 1],
    ['exactly one chunk', 1024],
    ['many chunks', 1024 * 7 + 300],
  ])('round-trips %s', async (_name, size) => {
    const data = randomBytes(size);
    const sealed = await sealBuffer(key, data, { chunkBytes });
    expect(openBuffer(key, sealed)).toEqual(data);
    if (size >= 16) expect(sealed.includes(data.subarray(0, 16))).toBe(false);
  });

  it('is standard XChaCha20-Poly1305: noble decrypts a raw chunk', async () => {
    const data = randomBytes(1024 * 2 + 10);
    const sealed = await sealBuffer(key, data, { chunkBytes });
    const { header, frames } = split(sealed);
    expect(frames).toHaveLength(3);
    frames.forEach((frame, i) => {
      const nonce = Buffer.concat([header.subarray(12, 28), frame.subarray(5, 13)]);
      const aad = Buffer.concat([header, frame.subarray(5, 13), frame.subarray(4, 5)]);
      const plain = xchacha20poly1305(key, nonce, aad).decrypt(frame.subarray(FRAME_HEADER));
      expect(Buffer.from(plain)).toEqual(data.subarray(i * chunkBytes, (i + 1) * chunkBytes));
    });
  });

  it('writer flush() seals short chunks and end() the final one', async () => {
    const parts: Buffer[] = [];
    const writer = new SealedStreamWriter(key, (b) => void parts.push(b), { chunkBytes });
    await writer.write(Buffer.from('hello '));
    await writer.flush();
    expect(parts).toHaveLength(2); // header, then one short chunk that survives a crash
    await writer.write(Buffer.from('world'));
    await writer.end();
    await expect(writer.write(Buffer.from('x'))).rejects.toThrow(/already ended/);
    expect(openBuffer(key, Buffer.concat(parts)).toString()).toBe('hello world');
    const crashed = salvageBuffer(key, Buffer.concat(parts.slice(0, 2)));
    expect(crashed.plaintext.toString()).toBe('hello ');
    expect(crashed.report).toMatchObject({ truncated: true, chunks: 1 });
  });

  describe('detects each kind of damage with its own error', () => {
    const data = randomBytes(1024 * 4 + 100); // 5 frames, #4 is final
    const sealedP = sealBuffer(key, data, { chunkBytes });

    it('reordered chunks', async () => {
      const { header, frames } = split(await sealedP);
      const bad = Buffer.concat([header, frames[0], frames[2], frames[1], ...frames.slice(3)]);
      expect(() => openBuffer(key, bad)).toThrow(SealedStreamOrderError);
      expect(() => openBuffer(key, bad)).toThrow(/chunk #2 found where chunk #1 was expected/);
    });

    it('a dropped middle chunk', async () => {
      const { header, frames } = split(await sealedP);
      const bad = Buffer.concat([header, frames[0], ...frames.slice(2)]);
      expect(() => openBuffer(key, bad)).toThrow(SealedStreamOrderError);
    });

    it('a dropped final chunk, and a torn last frame', async () => {
      const sealed = await sealedP;
      const { header, frames } = split(sealed);
      expect(() => openBuffer(key, Buffer.concat([header, ...frames.slice(0, 4)]))).toThrow(SealedStreamTruncatedError);
      expect(() => openBuffer(key, sealed.subarray(0, sealed.length - 5))).toThrow(SealedStreamTruncatedError);
      expect(() => openBuffer(key, sealed.subarray(0, 30))).toThrow(SealedStreamTruncatedError);
    });

    it('altered header, ciphertext and tag bytes', async () => {
      const sealed = await sealedP;
      const { frames } = split(sealed);
      const secondFrame = HEADER + frames[0].length;
      expect(() => openBuffer(key, flipped(sealed, 14))).toThrow(SealedStreamTamperedError); // nonce prefix
      expect(() => openBuffer(key, flipped(sealed, 10))).toThrow(/header failed authentication/); // chunk size
      expect(() => openBuffer(key, flipped(sealed, 0))).toThrow(SealedStreamFormatError); // magic
      expect(() => openBuffer(key, flipped(sealed, secondFrame + FRAME_HEADER + 7))).toThrow(
        /chunk #1 failed authentication/,
      );
      const tagByte = secondFrame + frames[1].length - TAG + 3;
      expect(() => openBuffer(key, flipped(sealed, tagByte))).toThrow(SealedStreamTamperedError);
      expect(() => openBuffer(key, flipped(sealed, secondFrame + 4))).toThrow(SealedStreamTamperedError); // flags
      expect(() => openBuffer(key, flipped(sealed, secondFrame))).toThrow(SealedStreamTamperedError); // length
      expect(() => openBuffer(key, Buffer.concat([sealed, Buffer.from([0])]))).toThrow(/after its final chunk/);
    });

    it('a wrong key', async () => {
      const sealed = await sealedP;
      expect(() => openBuffer(randomBytes(32), sealed)).toThrow(SealedStreamWrongKeyError);
      expect(() => openBuffer(randomBytes(32), sealed)).toThrow(/sealed with a different key/);
    });

    it('salvage returns the authentic prefix and says it was truncated', async () => {
      const sealed = await sealedP;
      const { header, frames } = split(sealed);
      const cut = salvageBuffer(key, Buffer.concat([header, ...frames.slice(0, 3), frames[3].subarray(0, 20)]));
      expect(cut.plaintext).toEqual(data.subarray(0, 3 * chunkBytes));
      expect(cut.report.truncated).toBe(true);
      expect(cut.report.chunks).toBe(3);
      expect(cut.report.stoppedBy).toBeInstanceOf(SealedStreamTruncatedError);

      const altered = salvageBuffer(key, flipped(sealed, HEADER + frames[0].length + FRAME_HEADER + 1));
      expect(altered.plaintext).toEqual(data.subarray(0, chunkBytes));
      expect(altered.report.stoppedBy).toBeInstanceOf(SealedStreamTamperedError);

      expect(salvageBuffer(key, sealed)).toMatchObject({ plaintext: data, report: { truncated: false, chunks: 5 } });
      expect(() => salvageBuffer(randomBytes(32), sealed)).toThrow(SealedStreamWrongKeyError);
    });

    it('salvage through the open stream emits a report', async () => {
      const { header, frames } = split(await sealedP);
      const out: Buffer[] = [];
      const open = createOpenStream(key, { salvage: true });
      let truncatedEvents = 0;
      open.on('truncated', () => truncatedEvents++);
      await pipeline(
        Readable.from([Buffer.concat([header, ...frames.slice(0, 2)])]),
        open,
        new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }),
      );
      expect(Buffer.concat(out)).toEqual(data.subarray(0, 2 * chunkBytes));
      expect(open.report?.truncated).toBe(true);
      expect(truncatedEvents).toBe(1);
      await expect(
        pipeline(Readable.from([Buffer.concat([header, frames[0]])]), createOpenStream(key), new Writable({ write: (_c, _e, cb) => cb() })),
      ).rejects.toThrow(SealedStreamTruncatedError);
    });
  });

  it('pipes 50 MiB through the streams in bounded memory', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // Two full collections: array-buffer backing stores are freed lazily after the first.
    const liveBytes = () => {
      gc();
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const run = async (totalMiB: number) => {
      const block = randomBytes(64 * 1024);
      const inHash = createHash('sha256');
      const outHash = createHash('sha256');
      let seen = 0;
      let peak = 0;
      const base = liveBytes();
      async function* source() {
        for (let i = 0; i < totalMiB * 16; i++) {
          block.writeUInt32BE(i, 0);
          inHash.update(block);
          yield Buffer.from(block);
        }
      }
      await pipeline(
        Readable.from(source()),
        createSealStream(key),
        createOpenStream(key),
        new Writable({
          write(c: Buffer, _e, cb) {
            outHash.update(c);
            seen += c.length;
            if (seen % (4 * 1024 * 1024) < c.length) peak = Math.max(peak, liveBytes() - base);
            cb();
          },
        }),
      );
      expect(seen).toBe(totalMiB * 1024 * 1024);
      expect(outHash.digest('hex')).toBe(inHash.digest('hex'));
      return peak;
    };
    const peak10 = await run(10);
    const peak50 = await run(50);
    console.log(`sealed-stream live memory growth: 10 MiB -> ${(peak10 / 2 ** 20).toFixed(1)} MiB, 50 MiB -> ${(peak50 / 2 ** 20).toFixed(1)} MiB`);
    expect(peak50).toBeLessThan(8 * 2 ** 20);
    expect(peak50).toBeLessThan(peak10 + 4 * 2 ** 20);
  });

  it('prints throughput of sealing 256 MiB vs plain noble xchacha20poly1305', async () => {
    const total = 256 * 2 ** 20;
    const block = randomBytes(64 * 1024);
    const blocks = total / block.length;

    let sealedBytes = 0;
    const writer = new SealedStreamWriter(key, (b) => void (sealedBytes += b.length));
    let t = performance.now();
    for (let i = 0; i < blocks; i++) await writer.write(block);
    await writer.end();
    const sealedSec = (performance.now() - t) / 1000;

    const nonce = randomBytes(24);
    t = performance.now();
    for (let i = 0; i < blocks; i++) {
      nonce.writeUInt32BE(i, 20);
      xchacha20poly1305(key, nonce).encrypt(block);
    }
    const nobleSec = (performance.now() - t) / 1000;
    console.log(
      `seal 256 MiB: sealed-stream ${(256 / sealedSec).toFixed(0)} MiB/s, noble xchacha20poly1305 ${(256 / nobleSec).toFixed(0)} MiB/s`,
    );
    expect(sealedBytes).toBeGreaterThan(total);
  }, 120_000);
});
