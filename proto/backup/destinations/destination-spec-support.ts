// Helpers the destination specs share: a deterministic byte source of any size that honours
// back-pressure, a sha256 of a stream, peak RSS sampling, and a TCP relay that can be cut.
import { createCipheriv, createHash } from 'node:crypto';
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';

export const MiB = 1024 * 1024;

export interface PatternSource {
  stream: Readable;
  /** sha256 (hex) of every byte the stream produced, once it ended */
  sha256(): string;
}

/**
 * SIZE pseudo-random bytes (AES-CTR of zeros, seeded), produced only when read. With stallAfter,
 * it produces that many bytes and then nothing more, never ending: an upload stuck mid-way.
 */
export function patternSource(size: number, opts: { seed?: number; stallAfter?: number; chunk?: number } = {}): PatternSource {
  const key = createHash('sha256').update(`seed-${opts.seed ?? 1}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const hash = createHash('sha256');
  const chunk = opts.chunk ?? 256 * 1024;
  const zeros = Buffer.alloc(chunk);
  let produced = 0;
  const limit = opts.stallAfter ?? size;
  const stream = new Readable({
    highWaterMark: chunk,
    read() {
      if (produced >= limit) {
        if (opts.stallAfter === undefined) this.push(null);
        return;
      }
      const n = Math.min(chunk, limit - produced);
      const bytes = cipher.update(zeros.subarray(0, n));
      produced += n;
      hash.update(bytes);
      this.push(bytes);
    },
  });
  let digest: string | undefined;
  return {
    stream,
    sha256: () => (digest ??= hash.digest('hex')),
  };
}

export async function sha256Of(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Runs WORK while sampling RSS; returns its result and the peak growth over the start in MiB. */
export async function withPeakRss<T>(work: () => Promise<T>): Promise<{ result: T; peakGrowthMiB: number }> {
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, peakGrowthMiB: (peak - start) / MiB };
  } finally {
    clearInterval(timer);
  }
}

export interface Relay {
  port: number;
  /** drops every connection through the relay; new ones still pass */
  cut(): void;
  /** drops every connection and refuses new ones until up() */
  down(): void;
  up(): void;
  close(): Promise<void>;
}

// A TCP relay in front of a server, to make it unreachable mid-transfer.
export async function relay(host: string, port: number): Promise<Relay> {
  const socks = new Set<Socket>();
  let refusing = false;
  const server: Server = createServer((s) => {
    if (refusing) {
      s.destroy();
      return;
    }
    const upstream = tcpConnect(port, host);
    socks.add(s).add(upstream);
    s.pipe(upstream).pipe(s);
    const drop = () => {
      s.destroy();
      upstream.destroy();
      socks.delete(s);
      socks.delete(upstream);
    };
    s.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const cut = () => {
    for (const s of socks) s.destroy();
  };
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    cut,
    down: () => {
      refusing = true;
      cut();
    },
    up: () => {
      refusing = false;
    },
    close: () => {
      cut();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Resolves once BYTES have been reported through onProgress. */
export function progressGate(bytes: number): { onProgress: (n: number) => void; reached: Promise<void> } {
  let release!: () => void;
  const reached = new Promise<void>((r) => (release = r));
  return {
    onProgress: (n) => {
      if (n >= bytes) release();
    },
    reached,
  };
}
