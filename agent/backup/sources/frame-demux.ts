// Podman's non-TTY exec output is framed: 1 byte stream (1 stdout, 2 stderr, 3 Podman's own
// error text), 3 zero bytes, 4 bytes big-endian length, then the payload. These split it as it
// arrives without holding more than a frame header.
const FRAME_HEADER_BYTES = 8;

export class FrameDemuxer {
  private header = Buffer.alloc(0);
  private stream: 1 | 2 = 1;
  private remaining = 0;

  constructor(private readonly onPayload: (stream: 1 | 2, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.remaining > 0) {
        const part = rest.subarray(0, this.remaining);
        this.remaining -= part.length;
        rest = rest.subarray(part.length);
        this.onPayload(this.stream, part);
        continue;
      }
      const need = FRAME_HEADER_BYTES - this.header.length;
      this.header = Buffer.concat([this.header, rest.subarray(0, need)]);
      rest = rest.subarray(need);
      if (this.header.length < FRAME_HEADER_BYTES) return;
      this.stream = this.header[0] === 1 ? 1 : 2;
      this.remaining = this.header.readUInt32BE(4);
      this.header = Buffer.alloc(0);
    }
  }
}

// The last `limit` bytes written to it (a command's stderr, for its error message).
export class ByteTail {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(data: Buffer): void {
    this.parts.push(Buffer.from(data.subarray(Math.max(0, data.length - this.limit))));
    this.size += Math.min(data.length, this.limit);
    while (this.parts.length > 1 && this.size - this.parts[0]!.length >= this.limit) this.size -= this.parts.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.parts);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8').trim();
  }
}
