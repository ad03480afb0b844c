// A container's logs from Podman's libpod log API, decoded from its multiplexed stream into
// lines tagged stdout or stderr; following and cancellation.
import type { Readable } from 'node:stream';
import { PodmanError, withContext, type PodmanClient } from './client';

// Podman frames each chunk: 1 byte stream (1 stdout, 2 stderr), 3 zero bytes, 4 bytes big-endian length.
const FRAME_HEADER_BYTES = 8;
// A line longer than this is delivered in pieces rather than buffered without bound.
export const MAX_LOG_LINE_CHARS = 64 * 1024;
export const LOG_REQUEST_TIMEOUT_MS = 30_000;

export type LogStream = 'stdout' | 'stderr';

export interface LogLine {
  stream: LogStream;
  line: string;
  // When Podman recorded it (only with the timestamps option; Podman gives whole seconds).
  at?: Date;
}

export interface LogDecoderOptions {
  // Each frame starts with Podman's RFC 3339 timestamp and a space (the API's timestamps=true).
  timestamps?: boolean;
}

// Podman's timestamp in front of a frame: RFC 3339, optional fraction, then one space.
const FRAME_TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) /;

export interface LogOptions {
  // Keep the stream open and deliver new lines until cancelled or the container stops.
  follow?: boolean;
  // Only lines written at or after this moment (a Date, or Unix seconds).
  since?: Date | number;
  until?: Date | number;
  // Only the last N lines (of the history; following continues after them).
  tail?: number;
  stdout?: boolean;
  stderr?: boolean;
  signal?: AbortSignal;
}

export interface LogSubscription {
  // Resolves once Podman answered and lines flow (useful before writing what a test expects).
  ready: Promise<void>;
  // Resolves when the stream ends (not following, the container stopped, or cancel()); rejects
  // when Podman refused or the stream broke.
  done: Promise<void>;
  cancel(): void;
}

// Streams the container's log lines to onLine. Lines arrive without their newline.
export function containerLogs(podman: PodmanClient, name: string, onLine: (line: LogLine) => void, options: LogOptions = {}): LogSubscription {
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort();
  if (options.signal?.aborted) controller.abort();
  else options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const context = `container ${name}: logs`;
  const opened = withContext(
    context,
    podman.open(`/containers/${encodeURIComponent(name)}/logs`, {
      query: {
        follow: options.follow ?? false,
        stdout: options.stdout ?? true,
        stderr: options.stderr ?? true,
        since: toPodmanTime(options.since),
        until: toPodmanTime(options.until),
        tail: options.tail,
      },
      // Following may be quiet for hours; a one-shot read is bounded.
      timeoutMs: options.follow ? 0 : LOG_REQUEST_TIMEOUT_MS,
      signal: controller.signal,
    }),
  );
  const done = opened
    .then((res) => decodeLogStream(res, onLine))
    .catch((err: unknown) => {
      if (controller.signal.aborted) return;
      if (err instanceof PodmanError) throw err;
      throw new PodmanError(`${context}: Podman at ${podman.socketPath}: the log stream failed: ${(err as Error).message}`, podman.socketPath);
    })
    .finally(() => options.signal?.removeEventListener('abort', onOuterAbort));
  const ready = opened.then(
    () => undefined,
    (err: unknown) => {
      if (controller.signal.aborted) return;
      throw err;
    },
  );
  // The same failure reaches `done`; a caller that never awaits `ready` must not see it unhandled.
  ready.catch(() => undefined);
  return {
    ready,
    done,
    cancel: () => controller.abort(),
  };
}

// Reads all the (non-following) log lines into an array.
export async function readLogs(podman: PodmanClient, name: string, options: Omit<LogOptions, 'follow'> = {}): Promise<LogLine[]> {
  const out: LogLine[] = [];
  await containerLogs(podman, name, (l) => out.push(l), { ...options, follow: false }).done;
  return out;
}

// Decodes Podman's multiplexed log stream. A container with a TTY has no framing: its bytes are
// delivered as stdout.
export async function decodeLogStream(stream: Readable, onLine: (line: LogLine) => void): Promise<void> {
  const decoder = new LogDecoder(onLine);
  for await (const chunk of stream) decoder.push(chunk as Buffer);
  decoder.end();
}

export class LogDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private framed: boolean | undefined;
  private readonly partial: Record<LogStream, string> = { stdout: '', stderr: '' };
  private readonly lineAt: Record<LogStream, Date | undefined> = { stdout: undefined, stderr: undefined };

  constructor(
    private readonly onLine: (line: LogLine) => void,
    private readonly options: LogDecoderOptions = {},
  ) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.framed === undefined) {
      if (this.pending.length < FRAME_HEADER_BYTES) return;
      const p = this.pending;
      this.framed = p[0] <= 3 && p[1] === 0 && p[2] === 0 && p[3] === 0;
    }
    if (!this.framed) {
      this.text('stdout', this.pending.toString('utf8'));
      this.pending = Buffer.alloc(0);
      return;
    }
    while (this.pending.length >= FRAME_HEADER_BYTES) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < FRAME_HEADER_BYTES + size) break;
      const kind = this.pending[0];
      const payload = this.pending.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + size).toString('utf8');
      this.pending = this.pending.subarray(FRAME_HEADER_BYTES + size);
      // 0 (stdin) and 3 (Podman's own errors) go with stderr.
      const stream = kind === 1 ? 'stdout' : 'stderr';
      this.text(stream, this.options.timestamps ? this.stripTimestamp(stream, payload) : payload);
    }
  }

  // Delivers what is left (a last line without its newline).
  end(): void {
    if (this.framed === false || (this.framed === undefined && this.pending.length)) {
      this.text('stdout', this.pending.toString('utf8'));
      this.pending = Buffer.alloc(0);
    }
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream]) this.emit(stream, this.partial[stream]);
      this.partial[stream] = '';
    }
  }

  // A frame continuing a partial line keeps the line's first timestamp.
  private stripTimestamp(stream: LogStream, payload: string): string {
    const m = FRAME_TIMESTAMP.exec(payload);
    if (!m) return payload;
    if (!this.partial[stream]) this.lineAt[stream] = new Date(m[1]);
    return payload.slice(m[0].length);
  }

  private emit(stream: LogStream, line: string): void {
    const at = this.lineAt[stream];
    this.onLine(at ? { stream, line, at } : { stream, line });
  }

  private text(stream: LogStream, text: string): void {
    let buffered = this.partial[stream] + text;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      this.emit(stream, buffered.slice(0, nl).replace(/\r$/, ''));
      buffered = buffered.slice(nl + 1);
    }
    while (buffered.length > MAX_LOG_LINE_CHARS) {
      this.emit(stream, buffered.slice(0, MAX_LOG_LINE_CHARS));
      buffered = buffered.slice(MAX_LOG_LINE_CHARS);
    }
    this.partial[stream] = buffered;
  }
}

// Podman takes RFC 3339 or Unix seconds.
function toPodmanTime(value: Date | number | undefined): string | undefined {
  if (value === undefined) return undefined;
  return value instanceof Date ? value.toISOString() : String(value);
}
