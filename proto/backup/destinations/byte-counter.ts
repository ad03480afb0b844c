import { Transform, type TransformCallback } from 'node:stream';

// Passes bytes through unchanged, counting them and reporting the running total.
export class ByteCounter extends Transform {
  bytes = 0;

  constructor(private readonly onProgress?: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.onProgress?.(this.bytes);
    done(null, chunk);
  }
}
