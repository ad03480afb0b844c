// Writes one session's asciicast v2 recording, sealed as it goes (proto/sealed-stream.ts), to
// <dataDir>/recordings/<id>.cast.sealed. Output is coalesced for a few ms into one event; sealed
// chunks reach the file at least every RECORDING_FLUSH_MS while data is pending, so a crash
// loses at most that much. Nothing is written in plain text.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SealedStreamWriter } from '../../proto/sealed-stream';
import { eventLine, headerLine, resizeData, type AsciicastHeader } from './asciicast';

export const RECORDINGS_DIR = 'recordings';
export const RECORDING_COALESCE_MS = 5;
// Pending output is written as one event at most this long (chars).
export const RECORDING_COALESCE_MAX_CHARS = 16 * 1024;
export const RECORDING_FLUSH_MS = 1_000;

// Relative to the data folder, as the recordings table keeps it.
export const recordingFile = (id: string): string => join(RECORDINGS_DIR, `${id}.cast.sealed`);

export class RecordingWriter {
  private pendingOutput = '';
  private pendingAt = 0;
  private coalesceTimer: NodeJS.Timeout | null = null;
  private flushTimer: NodeJS.Timeout;
  private dirty = false;
  private last: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  private ended = false;

  private constructor(
    private readonly file: FileHandle,
    private readonly sealed: SealedStreamWriter,
    private readonly startedAt: number,
    private readonly onError: (err: Error) => void,
    private readonly now: () => number,
  ) {
    this.flushTimer = setInterval(() => this.flush(), RECORDING_FLUSH_MS);
    this.flushTimer.unref();
  }

  // Creates the file (0600, in a 0700 folder) and seals the header into it at once.
  static async create(opts: {
    dataDir: string;
    id: string;
    key: Uint8Array;
    header: AsciicastHeader;
    startedAt: number;
    onError?: (err: Error) => void;
    now?: () => number;
    chunkBytes?: number;
  }): Promise<RecordingWriter> {
    await mkdir(join(opts.dataDir, RECORDINGS_DIR), { recursive: true, mode: 0o700 });
    const file = await open(join(opts.dataDir, recordingFile(opts.id)), 'wx', 0o600);
    const sealed = new SealedStreamWriter(opts.key, async (bytes) => void (await file.write(bytes)), { chunkBytes: opts.chunkBytes });
    const w = new RecordingWriter(file, sealed, opts.startedAt, opts.onError ?? (() => undefined), opts.now ?? Date.now);
    w.append(headerLine(opts.header));
    w.flush();
    await w.last;
    if (w.failure) {
      await file.close().catch(() => undefined);
      throw w.failure;
    }
    return w;
  }

  output(text: string): void {
    if (this.ended || text.length === 0) return;
    if (this.pendingOutput.length === 0) {
      this.pendingAt = this.now();
      this.coalesceTimer = setTimeout(() => this.writePendingOutput(), RECORDING_COALESCE_MS);
    }
    this.pendingOutput += text;
    if (this.pendingOutput.length >= RECORDING_COALESCE_MAX_CHARS) this.writePendingOutput();
  }

  input(text: string): void {
    this.event('i', text);
  }

  resize(cols: number, rows: number): void {
    this.event('r', resizeData(cols, rows));
  }

  // Seals what is pending into complete chunks on disk; resolves when they were written.
  flushed(): Promise<void> {
    this.writePendingOutput();
    this.flush();
    return this.last;
  }

  // Seals the final chunk and closes the file; returns its size in bytes.
  async end(): Promise<number> {
    if (!this.ended) {
      this.writePendingOutput();
      this.ended = true;
      clearInterval(this.flushTimer);
      this.chain(() => this.sealed.end());
      await this.last;
      await this.file.sync().catch(() => undefined);
    }
    const { size } = await this.file.stat();
    await this.file.close().catch(() => undefined);
    return size;
  }

  private event(code: 'i' | 'r', data: string): void {
    if (this.ended) return;
    this.writePendingOutput();
    this.append(eventLine((this.now() - this.startedAt) / 1000, code, data));
  }

  private writePendingOutput(): void {
    if (this.coalesceTimer) clearTimeout(this.coalesceTimer);
    this.coalesceTimer = null;
    if (this.pendingOutput.length === 0) return;
    const line = eventLine((this.pendingAt - this.startedAt) / 1000, 'o', this.pendingOutput);
    this.pendingOutput = '';
    this.append(line);
  }

  private append(line: string): void {
    const bytes = Buffer.from(line, 'utf8');
    this.dirty = true;
    this.chain(() => this.sealed.write(bytes));
  }

  private flush(): void {
    this.writePendingOutput();
    if (!this.dirty || this.ended) return;
    this.dirty = false;
    this.chain(() => this.sealed.flush());
  }

  private chain(op: () => Promise<void>): void {
    this.last = this.last.then(op).catch((err: Error) => {
      if (this.failure) return;
      this.failure = err;
      this.onError(err);
    });
  }
}
