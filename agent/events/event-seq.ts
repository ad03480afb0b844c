// The agent's event sequence: strictly increasing per node, also across agent restarts. The file
// holds the end of the block of numbers handed out so far; a start takes the next block, so a
// crash skips at most one block's unused numbers and never repeats one. One write per block.
import { join } from 'node:path';
import type { Logger } from '../logger';
import { readJson, writeJsonAtomic } from '../state/atomic-file';

export const EVENT_SEQ_FILE = 'event-seq.json';
export const EVENT_SEQ_BLOCK = 10_000;

interface SeqFile {
  reservedThrough: number;
}

export class EventSeq {
  private readonly path: string;
  private nextSeq: number;
  private reservedThrough: number;

  constructor(
    stateDir: string,
    private readonly log?: Logger,
    private readonly block = EVENT_SEQ_BLOCK,
  ) {
    this.path = join(stateDir, EVENT_SEQ_FILE);
    const last = this.readReserved();
    this.nextSeq = last + 1;
    this.reservedThrough = last;
  }

  next(): number {
    if (this.nextSeq > this.reservedThrough) this.reserve(this.nextSeq + this.block - 1);
    return this.nextSeq++;
  }

  private reserve(through: number): void {
    writeJsonAtomic(this.path, { reservedThrough: through } satisfies SeqFile);
    this.reservedThrough = through;
  }

  private readReserved(): number {
    try {
      const file = readJson<SeqFile>(this.path, { reservedThrough: 0 });
      if (Number.isSafeInteger(file.reservedThrough) && file.reservedThrough >= 0) return file.reservedThrough;
      throw new Error(`${this.path} holds no reservedThrough number`);
    } catch (err) {
      // Milliseconds since the epoch: far above what a node numbers in practice (a thousand events
      // every millisecond since 1970).
      const restart = Date.now();
      this.log?.error({ event: 'event_seq_unreadable', err: (err as Error).message, restartAt: restart }, `the event sequence file is unreadable; numbering continues from ${restart}`);
      return restart;
    }
  }
}
