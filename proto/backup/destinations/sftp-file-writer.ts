import { Writable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';

/** SFTP writes in flight at once: enough to fill a link with latency, few enough to bound memory */
export const SFTP_WRITES_IN_FLIGHT = 8;

// A Writable onto an open SFTP file handle that keeps several WRITE requests in flight (ssh2's
// own WriteStream waits for each one), and takes the next chunk only when one is acknowledged.
export class SftpFileWriter extends Writable {
  private position = 0;
  private inFlight = 0;
  private failure: Error | undefined;
  private onSettled: (() => void) | undefined;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly handle: Buffer,
    private readonly isOpen: () => boolean,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.failure) return done(this.failure);
    // ssh2 never answers a request sent on a closed channel: fail instead of waiting forever.
    if (!this.isOpen()) return done(new Error('the SFTP connection is closed'));
    this.inFlight++;
    this.sftp.write(this.handle, chunk, 0, chunk.length, this.position, (err) => {
      this.inFlight--;
      if (err && !this.failure) this.failure = err;
      const settled = this.onSettled;
      this.onSettled = undefined;
      settled?.();
    });
    this.position += chunk.length;
    if (this.inFlight < SFTP_WRITES_IN_FLIGHT) done();
    else this.onSettled = () => done(this.failure);
  }

  override _final(done: (err?: Error | null) => void): void {
    const check = () => {
      if (this.inFlight === 0) done(this.failure);
      else this.onSettled = check;
    };
    check();
  }
}
