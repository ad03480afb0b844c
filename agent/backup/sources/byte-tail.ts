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
