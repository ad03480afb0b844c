import { hchacha } from '@noble/ciphers/chacha.js';
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

// Sealed stream: the encrypted-at-rest format shared by terminal recordings and backups (the
// agent seals backups on the node, the control plane opens them to verify and restore).
// Standard XChaCha20-Poly1305 on numbered chunks; the bulk runs on Node's native
// chacha20-poly1305 with the HChaCha20 subkey (computed once per stream by @noble/ciphers).
//
//   header (52 B): "PPSS" | version u8 = 1 | 3 reserved zero bytes | chunkBytes u32 BE |
//                  noncePrefix[16] (random per stream) | keyId[8] | headerTag[16]
//     keyId     = HMAC-SHA256(key, "podploy/sealed-stream/v1/key-id")[0..8]   -> wrong-key check
//     headerTag = HMAC-SHA256(key, "podploy/sealed-stream/v1/header" || header[0..36])[0..16]
//   frames:      ctLength u32 BE (plaintext + 16) | flags u8 (bit 0 = final) | index u64 BE | ct || tag
//     nonce(24) = noncePrefix || index u64 BE          (plain XChaCha20-Poly1305 nonce)
//     AAD       = header(52) || index u64 BE || flags u8
// Exactly one chunk, the last, has the final flag (an empty stream is one empty final chunk), and
// nothing may follow it. Plaintext of a chunk is released only after its tag verified. A writer
// hands each completed frame to its sink at once, so after a crash the file holds every completed
// chunk; `salvage` mode returns those and reports the truncation, the normal mode refuses it.
// A corrupted keyId field reads as a wrong key (the two cannot be told apart).

export const SEALED_STREAM_KEY_BYTES = 32;
export const DEFAULT_CHUNK_BYTES = 64 * 1024;
export const MIN_CHUNK_BYTES = 1;
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024;

const MAGIC = Buffer.from('PPSS', 'ascii');
const VERSION = 1;
const HEADER_BYTES = 52;
const HEADER_SIGNED_BYTES = 36;
const FRAME_HEADER_BYTES = 13;
const TAG_BYTES = 16;
const FLAG_FINAL = 0x01;
const KEY_ID_LABEL = Buffer.from('podploy/sealed-stream/v1/key-id');
const HEADER_TAG_LABEL = Buffer.from('podploy/sealed-stream/v1/header');
// "expand 32-byte k" as the four little-endian words ChaCha starts from.
const SIGMA = new Uint32Array(new Uint8Array(Buffer.from('expand 32-byte k', 'ascii')).buffer);

export class SealedStreamError extends Error {
  override name = 'SealedStreamError';
}
/** Not a sealed stream, or a version this build cannot read. */
export class SealedStreamFormatError extends SealedStreamError {
  override name = 'SealedStreamFormatError';
}
/** The stream was sealed with another key. */
export class SealedStreamWrongKeyError extends SealedStreamError {
  override name = 'SealedStreamWrongKeyError';
}
/** Header or chunk bytes were altered (authentication failed or a frame header is impossible). */
export class SealedStreamTamperedError extends SealedStreamError {
  override name = 'SealedStreamTamperedError';
}
/** An authentic chunk sits at the wrong position: chunks were reordered, dropped or duplicated. */
export class SealedStreamOrderError extends SealedStreamError {
  override name = 'SealedStreamOrderError';
  constructor(
    readonly expectedIndex: number,
    readonly foundIndex: number,
  ) {
    super(
      `sealed stream: chunk #${foundIndex} found where chunk #${expectedIndex} was expected ` +
        `(${foundIndex > expectedIndex ? 'chunks are missing or out of order' : 'chunk repeated or out of order'})`,
    );
  }
}
/** The stream ends before its final chunk (crash or cut copy); open it with `salvage` to read what is there. */
export class SealedStreamTruncatedError extends SealedStreamError {
  override name = 'SealedStreamTruncatedError';
}

export interface OpenReport {
  chunks: number;
  bytes: number;
  truncated: boolean;
  /** In salvage mode: the error that ended reading before a final chunk. */
  stoppedBy?: SealedStreamError;
}

type Sink = (bytes: Buffer) => void | Promise<void>;

function assertKey(key: Uint8Array): void {
  if (key.length !== SEALED_STREAM_KEY_BYTES) {
    throw new SealedStreamError(`sealed stream key must be ${SEALED_STREAM_KEY_BYTES} bytes, got ${key.length}`);
  }
}

function hmac16(key: Uint8Array, label: Buffer, data?: Uint8Array): Buffer {
  const h = createHmac('sha256', key).update(label);
  if (data) h.update(data);
  return h.digest();
}

function keyId(key: Uint8Array): Buffer {
  return hmac16(key, KEY_ID_LABEL).subarray(0, 8);
}

/** HChaCha20(key, noncePrefix[0..16]) -> the per-stream ChaCha20-Poly1305 subkey. */
function deriveSubkey(key: Uint8Array, noncePrefix: Uint8Array): Buffer {
  const k32 = new Uint32Array(new Uint8Array(key).buffer);
  const n32 = new Uint32Array(new Uint8Array(noncePrefix).buffer);
  const out = new Uint32Array(8);
  hchacha(SIGMA, k32, n32, out);
  const subkey = Buffer.from(new Uint8Array(out.buffer));
  k32.fill(0);
  out.fill(0);
  return subkey;
}

function writeIndex(buf: Buffer, offset: number, index: number): void {
  buf.writeUInt32BE(Math.floor(index / 2 ** 32), offset);
  buf.writeUInt32BE(index >>> 0, offset + 4);
}

function readIndex(buf: Buffer, offset: number): number {
  return buf.readUInt32BE(offset) * 2 ** 32 + buf.readUInt32BE(offset + 4);
}

/** Per-stream crypto state shared by writer and reader. */
class ChunkCipher {
  private readonly subkey: Buffer;
  private readonly nonce12 = Buffer.alloc(12); // 4 zero bytes || index u64 BE
  private readonly aad: Buffer;

  constructor(
    key: Uint8Array,
    readonly header: Buffer,
  ) {
    this.subkey = deriveSubkey(key, header.subarray(12, 28));
    this.aad = Buffer.alloc(HEADER_BYTES + 9);
    header.copy(this.aad, 0);
  }

  private prepare(index: number, flags: number): void {
    writeIndex(this.nonce12, 4, index);
    writeIndex(this.aad, HEADER_BYTES, index);
    this.aad[HEADER_BYTES + 8] = flags;
  }

  /** Returns the whole frame: frame header, ciphertext and tag. */
  seal(index: number, flags: number, plaintext: Uint8Array): Buffer {
    this.prepare(index, flags);
    const cipher = createCipheriv('chacha20-poly1305', this.subkey, this.nonce12, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.aad, { plaintextLength: plaintext.length });
    const frameHeader = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    frameHeader.writeUInt32BE(plaintext.length + TAG_BYTES, 0);
    frameHeader[4] = flags;
    writeIndex(frameHeader, 5, index);
    const ct = cipher.update(plaintext);
    cipher.final();
    return Buffer.concat([frameHeader, ct, cipher.getAuthTag()], FRAME_HEADER_BYTES + plaintext.length + TAG_BYTES);
  }

  /** Returns the plaintext, or undefined when the tag does not verify. */
  open(index: number, flags: number, body: Buffer): Buffer | undefined {
    this.prepare(index, flags);
    const ctLength = body.length - TAG_BYTES;
    const decipher = createDecipheriv('chacha20-poly1305', this.subkey, this.nonce12, { authTagLength: TAG_BYTES });
    decipher.setAAD(this.aad, { plaintextLength: ctLength });
    decipher.setAuthTag(body.subarray(ctLength));
    const plain = decipher.update(body.subarray(0, ctLength));
    try {
      decipher.final();
    } catch {
      plain.fill(0);
      return undefined;
    }
    return plain;
  }
}

function buildHeader(key: Uint8Array, chunkBytes: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header[4] = VERSION;
  header.writeUInt32BE(chunkBytes, 8);
  randomBytes(16).copy(header, 12);
  keyId(key).copy(header, 28);
  hmac16(key, HEADER_TAG_LABEL, header.subarray(0, HEADER_SIGNED_BYTES)).copy(header, HEADER_SIGNED_BYTES, 0, 16);
  return header;
}

/**
 * Seals a byte stream chunk by chunk. Each completed chunk goes to `sink` as one Buffer (the first
 * call carries the header alone). Calls are serialised; await them to get back-pressure.
 */
export class SealedStreamWriter {
  readonly chunkBytes: number;
  private readonly cipher: ChunkCipher;
  private readonly buffer: Buffer;
  private buffered = 0;
  private index = 0;
  private headerSent = false;
  private ended = false;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    key: Uint8Array,
    private readonly sink: Sink,
    opts: { chunkBytes?: number } = {},
  ) {
    assertKey(key);
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!Number.isInteger(this.chunkBytes) || this.chunkBytes < MIN_CHUNK_BYTES || this.chunkBytes > MAX_CHUNK_BYTES) {
      throw new SealedStreamError(`chunkBytes must be an integer in ${MIN_CHUNK_BYTES}..${MAX_CHUNK_BYTES}, got ${opts.chunkBytes}`);
    }
    this.cipher = new ChunkCipher(key, buildHeader(key, this.chunkBytes));
    this.buffer = Buffer.alloc(this.chunkBytes);
  }

  write(data: Uint8Array): Promise<void> {
    return this.enqueue(async () => {
      let offset = 0;
      while (offset < data.length) {
        if (this.buffered === 0 && data.length - offset >= this.chunkBytes) {
          await this.emit(data.subarray(offset, offset + this.chunkBytes), 0);
          offset += this.chunkBytes;
          continue;
        }
        const n = Math.min(this.chunkBytes - this.buffered, data.length - offset);
        this.buffer.set(data.subarray(offset, offset + n), this.buffered);
        this.buffered += n;
        offset += n;
        if (this.buffered === this.chunkBytes) await this.emitBuffered(0);
      }
    });
  }

  /** Seals whatever is buffered as a (short) chunk, so it survives a crash. */
  flush(): Promise<void> {
    return this.enqueue(async () => {
      if (this.buffered > 0) await this.emitBuffered(0);
      else await this.sendHeader();
    });
  }

  /** Seals the final chunk; nothing can be written afterwards. */
  end(): Promise<void> {
    return this.enqueue(async () => {
      await this.emitBuffered(FLAG_FINAL);
      this.ended = true;
    });
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    const run = this.queue.then(() => {
      if (this.ended) throw new SealedStreamError('sealed stream writer already ended');
      return op();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async sendHeader(): Promise<void> {
    if (this.headerSent) return;
    this.headerSent = true;
    await this.sink(Buffer.from(this.cipher.header));
  }

  private async emitBuffered(flags: number): Promise<void> {
    await this.emit(this.buffer.subarray(0, this.buffered), flags);
    this.buffered = 0;
  }

  private async emit(plaintext: Uint8Array, flags: number): Promise<void> {
    await this.sendHeader();
    const frame = this.cipher.seal(this.index, flags, plaintext);
    this.index++;
    await this.sink(frame);
  }
}

/**
 * Push-based reader: feed bytes with `push`, which returns authenticated plaintext chunks, then
 * call `finish`. Holds at most one frame plus the pending input.
 */
export class SealedStreamReader {
  private readonly key: Uint8Array;
  private cipher: ChunkCipher | undefined;
  private chunkBytes = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private nextIndex = 0;
  private sawFinal = false;
  private stopped: SealedStreamError | undefined;
  private bytes = 0;

  constructor(
    key: Uint8Array,
    private readonly opts: { salvage?: boolean } = {},
  ) {
    assertKey(key);
    this.key = new Uint8Array(key);
  }

  push(data: Uint8Array): Buffer[] {
    if (this.stopped) return [];
    this.pending.push(Buffer.from(data)); // a copy: callers may reuse their buffer
    this.pendingBytes += data.length;
    const out: Buffer[] = [];
    try {
      this.drain(out);
    } catch (err) {
      if (!(err instanceof SealedStreamError) || !this.opts.salvage || !this.cipher) throw err;
      this.stopped = err;
      this.pending = [];
      this.pendingBytes = 0;
    }
    return out;
  }

  /** Ends input. Throws on truncation unless in salvage mode, where the report says so. */
  finish(): OpenReport {
    const report = (truncated: boolean, stoppedBy?: SealedStreamError): OpenReport => ({
      chunks: this.nextIndex,
      bytes: this.bytes,
      truncated,
      ...(stoppedBy ? { stoppedBy } : {}),
    });
    if (this.stopped) return report(true, this.stopped);
    if (this.sawFinal) return report(false);
    let err: SealedStreamError;
    if (!this.cipher) {
      err =
        this.pendingBytes === 0
          ? new SealedStreamFormatError('sealed stream is empty: no header')
          : new SealedStreamTruncatedError(`sealed stream ends inside its header (${this.pendingBytes} of ${HEADER_BYTES} bytes)`);
      throw err;
    }
    err = new SealedStreamTruncatedError(
      `sealed stream is truncated: it ends after chunk #${this.nextIndex - 1} without a final chunk` +
        (this.pendingBytes > 0 ? ` (plus ${this.pendingBytes} bytes of an incomplete frame)` : '') +
        '; open it in salvage mode to recover the complete chunks',
    );
    if (this.opts.salvage) return report(true, err);
    throw err;
  }

  private take(n: number): Buffer {
    const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    const head = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return head;
  }

  private peek(n: number): Buffer {
    if (this.pending[0].length < n) this.pending = [Buffer.concat(this.pending, this.pendingBytes)];
    return this.pending[0].subarray(0, n);
  }

  private drain(out: Buffer[]): void {
    if (!this.cipher) {
      if (this.pendingBytes < HEADER_BYTES) return;
      this.readHeader(Buffer.from(this.take(HEADER_BYTES)));
    }
    const cipher = this.cipher!;
    while (this.pendingBytes > 0) {
      if (this.sawFinal) {
        throw new SealedStreamTamperedError(`sealed stream has ${this.pendingBytes} unexpected bytes after its final chunk`);
      }
      if (this.pendingBytes < FRAME_HEADER_BYTES) return;
      const fh = this.peek(FRAME_HEADER_BYTES);
      const length = fh.readUInt32BE(0);
      const flags = fh[4];
      const index = readIndex(fh, 5);
      if (length < TAG_BYTES || length > this.chunkBytes + TAG_BYTES || (flags & ~FLAG_FINAL) !== 0) {
        throw new SealedStreamTamperedError(
          `sealed stream: frame header of chunk #${this.nextIndex} is corrupt (length ${length}, flags ${flags})`,
        );
      }
      if (this.pendingBytes < FRAME_HEADER_BYTES + length) return;
      const frame = this.take(FRAME_HEADER_BYTES + length);
      const body = frame.subarray(FRAME_HEADER_BYTES);
      const plain = cipher.open(index, flags, body);
      if (!plain) {
        throw new SealedStreamTamperedError(
          `sealed stream: chunk #${this.nextIndex} failed authentication: its bytes were altered`,
        );
      }
      if (index !== this.nextIndex) {
        plain.fill(0);
        throw new SealedStreamOrderError(this.nextIndex, index);
      }
      this.nextIndex++;
      this.bytes += plain.length;
      if (flags & FLAG_FINAL) this.sawFinal = true;
      if (plain.length > 0) out.push(plain);
    }
  }

  private readHeader(header: Buffer): void {
    if (!header.subarray(0, 4).equals(MAGIC)) {
      throw new SealedStreamFormatError('not a sealed stream (bad magic bytes)');
    }
    if (header[4] !== VERSION) {
      throw new SealedStreamFormatError(`sealed stream version ${header[4]} is not supported (this build reads ${VERSION})`);
    }
    if (!timingSafeEqual(header.subarray(28, 36), keyId(this.key))) {
      throw new SealedStreamWrongKeyError('sealed stream was sealed with a different key (key id mismatch)');
    }
    const expectedTag = hmac16(this.key, HEADER_TAG_LABEL, header.subarray(0, HEADER_SIGNED_BYTES)).subarray(0, 16);
    if (!timingSafeEqual(header.subarray(HEADER_SIGNED_BYTES, HEADER_BYTES), expectedTag)) {
      throw new SealedStreamTamperedError('sealed stream header failed authentication: its bytes were altered');
    }
    const chunkBytes = header.readUInt32BE(8);
    if (header[5] !== 0 || header[6] !== 0 || header[7] !== 0 || chunkBytes < MIN_CHUNK_BYTES || chunkBytes > MAX_CHUNK_BYTES) {
      throw new SealedStreamFormatError(`sealed stream header has unsupported parameters (chunk size ${chunkBytes})`);
    }
    this.chunkBytes = chunkBytes;
    this.cipher = new ChunkCipher(this.key, header);
  }
}

/** Seals a whole buffer (tests and small data). */
export async function sealBuffer(key: Uint8Array, data: Uint8Array, opts: { chunkBytes?: number } = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  const writer = new SealedStreamWriter(key, (b) => void parts.push(b), opts);
  await writer.write(data);
  await writer.end();
  return Buffer.concat(parts);
}

/** Opens a whole sealed buffer; throws on any problem, including truncation. */
export function openBuffer(key: Uint8Array, sealed: Uint8Array): Buffer {
  const reader = new SealedStreamReader(key);
  const parts = reader.push(sealed);
  reader.finish();
  return Buffer.concat(parts);
}

/** Recovers every authentic chunk up to the first problem; header problems still throw. */
export function salvageBuffer(key: Uint8Array, sealed: Uint8Array): { plaintext: Buffer; report: OpenReport } {
  const reader = new SealedStreamReader(key, { salvage: true });
  const parts = reader.push(sealed);
  const report = reader.finish();
  return { plaintext: Buffer.concat(parts), report };
}

/** Transform: plaintext in, sealed stream out. */
export function createSealStream(key: Uint8Array, opts: { chunkBytes?: number } = {}): Transform {
  let transform: Transform;
  const writer = new SealedStreamWriter(key, (b) => void transform.push(b), opts);
  transform = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      writer.write(chunk).then(() => cb(), cb);
    },
    flush(cb: TransformCallback) {
      writer.end().then(() => cb(), cb);
    },
  });
  return transform;
}

/** Transform: sealed stream in, authenticated plaintext out. `report` is set when it ends. */
export class SealedOpenStream extends Transform {
  report: OpenReport | undefined;
  private readonly reader: SealedStreamReader;

  constructor(key: Uint8Array, opts: { salvage?: boolean } = {}) {
    super();
    this.reader = new SealedStreamReader(key, opts);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      for (const plain of this.reader.push(chunk)) this.push(plain);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.report = this.reader.finish();
      if (this.report.truncated) this.emit('truncated', this.report);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

export function createOpenStream(key: Uint8Array, opts: { salvage?: boolean } = {}): SealedOpenStream {
  return new SealedOpenStream(key, opts);
}
