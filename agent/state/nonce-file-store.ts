import { join } from 'node:path';
import type { NonceStore } from '../../proto/signing';
import { readJson, writeJsonAtomic } from './atomic-file';

export const NONCES_FILE = 'nonces.json';

// Nonces of accepted commands, kept on disk until their command expires, so a command replayed
// after an agent restart is still refused.
export class NonceFileStore implements NonceStore {
  private readonly path: string;
  private readonly seen: Map<string, number>;

  constructor(
    stateDir: string,
    private readonly now: () => number = Date.now,
  ) {
    this.path = join(stateDir, NONCES_FILE);
    this.seen = new Map(Object.entries(readJson<Record<string, number>>(this.path, {})));
    if (this.prune()) this.save();
  }

  has(nonce: string): boolean {
    this.prune();
    return this.seen.has(nonce);
  }

  add(nonce: string, expiresAtMs: number): void {
    this.prune();
    this.seen.set(nonce, expiresAtMs);
    this.save();
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(): boolean {
    const now = this.now();
    let pruned = false;
    for (const [nonce, expiresAt] of this.seen) {
      if (expiresAt < now) {
        this.seen.delete(nonce);
        pruned = true;
      }
    }
    return pruned;
  }

  private save(): void {
    writeJsonAtomic(this.path, Object.fromEntries(this.seen));
  }
}
