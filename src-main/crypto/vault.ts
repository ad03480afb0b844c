import { eq } from 'drizzle-orm';
import type { Db } from '../db/database';
import { vault } from '../db/schema';
import { open, seal } from './sealed-box';

// Named secrets of the control plane itself (CA key, signing key), sealed under the master key.
export class Vault {
  constructor(
    private db: Db,
    private masterKey: Uint8Array,
  ) {}

  get(name: string): Buffer | null {
    const row = this.db.select().from(vault).where(eq(vault.name, name)).get();
    return row ? open(this.masterKey, row.value, `vault:${name}`) : null;
  }

  put(name: string, value: Uint8Array): void {
    const sealed = seal(this.masterKey, value, `vault:${name}`);
    this.db
      .insert(vault)
      .values({ name, value: sealed, createdAt: Date.now() })
      .onConflictDoUpdate({ target: vault.name, set: { value: sealed } })
      .run();
  }

  getOrCreate(name: string, create: () => Uint8Array): Buffer {
    const existing = this.get(name);
    if (existing) return existing;
    const value = create();
    this.put(name, value);
    return Buffer.from(value);
  }

  seal(value: Uint8Array, context: string): Buffer {
    return seal(this.masterKey, value, context);
  }

  open(sealed: Uint8Array, context: string): Buffer {
    return open(this.masterKey, sealed, context);
  }
}
