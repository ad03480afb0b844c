import { desc, lt } from 'drizzle-orm';
import type { AuditEntry } from './api/contract';
import type { CallContext } from './api/router';
import type { Db } from './db/database';
import { auditLog } from './db/schema';

// Every state-changing action, who asked for it, and how it ended.
export class AuditLog {
  constructor(
    private db: Db,
    private onAppend: (e: AuditEntry) => void = () => {},
  ) {}

  record(ctx: CallContext, action: string, target: string, result: 'ok' | 'error', detail = ''): AuditEntry {
    const row = this.db
      .insert(auditLog)
      .values({ at: Date.now(), actor: ctx.actor, source: ctx.source, action, target, result, detail })
      .returning()
      .get();
    this.onAppend(row);
    return row;
  }

  // Runs fn and records its outcome, success or failure.
  async around<T>(ctx: CallContext, action: string, target: string, fn: () => Promise<T>, detail?: (r: T) => string): Promise<T> {
    try {
      const r = await fn();
      this.record(ctx, action, target, 'ok', detail?.(r) ?? '');
      return r;
    } catch (err) {
      this.record(ctx, action, target, 'error', err instanceof Error ? err.message : String(err));
      throw err;
    }
  }

  list(limit: number, beforeId?: number): AuditEntry[] {
    const q = this.db.select().from(auditLog);
    return (beforeId ? q.where(lt(auditLog.id, beforeId)) : q).orderBy(desc(auditLog.id)).limit(limit).all();
  }
}
