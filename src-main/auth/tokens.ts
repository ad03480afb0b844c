import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/database';
import { apiTokens } from '../db/schema';

export const ADMIN_ACTOR = 'admin';
const TOKEN_PREFIX = 'pp_';

const digest = (token: string) => createHash('sha256').update(token).digest('hex');

// API tokens are stored only as SHA-256 digests; the plain token is shown once, at creation.
export class Tokens {
  constructor(private db: Db) {}

  // Creates the admin token on first start and returns it; null when one exists already.
  ensureAdmin(): string | null {
    const existing = this.db.select().from(apiTokens).where(eq(apiTokens.actor, ADMIN_ACTOR)).get();
    if (existing) return null;
    return this.create(ADMIN_ACTOR);
  }

  create(actor: string): string {
    const token = TOKEN_PREFIX + randomBytes(24).toString('base64url');
    this.db.insert(apiTokens).values({ actor, tokenSha256: digest(token), createdAt: Date.now() }).run();
    return token;
  }

  // Replaces the admin token (operator lost it): returns the new one.
  resetAdmin(): string {
    this.db.delete(apiTokens).where(eq(apiTokens.actor, ADMIN_ACTOR)).run();
    return this.create(ADMIN_ACTOR);
  }

  verify(token: string): string | null {
    if (typeof token !== 'string' || !token.startsWith(TOKEN_PREFIX)) return null;
    const d = digest(token);
    const row = this.db.select().from(apiTokens).where(eq(apiTokens.tokenSha256, d)).get();
    if (!row) return null;
    return timingSafeEqual(Buffer.from(row.tokenSha256), Buffer.from(d)) ? row.actor : null;
  }
}
