// Backup policies as stored: `spec` is the policy as the API took it (defaults applied),
// `version` grows on every change and `pushedVersion` says which one the node holds.
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { CONTROL_PLANE_SOURCE } from '../../proto/backup-defaults';
import { ApiError, BackupPolicyInput } from '../api/contract';
import type { Db } from '../db/database';
import { backupPolicies } from '../db/schema';

export type PolicyRow = typeof backupPolicies.$inferSelect;
export type PolicySpec = ReturnType<typeof BackupPolicyInput.parse>;

export const specOf = (row: PolicyRow): PolicySpec => BackupPolicyInput.parse(row.spec);
export const isControlPlanePolicy = (row: PolicyRow): boolean => specOf(row).source.kind === CONTROL_PLANE_SOURCE;

export class PolicyStore {
  constructor(private db: Db) {}

  all(): PolicyRow[] {
    return this.db.select().from(backupPolicies).orderBy(backupPolicies.name).all();
  }

  byName(name: string): PolicyRow | null {
    return this.db.select().from(backupPolicies).where(eq(backupPolicies.name, name)).get() ?? null;
  }

  byId(id: string): PolicyRow | null {
    return this.db.select().from(backupPolicies).where(eq(backupPolicies.id, id)).get() ?? null;
  }

  onNode(nodeId: string): PolicyRow[] {
    return this.db.select().from(backupPolicies).where(eq(backupPolicies.nodeId, nodeId)).orderBy(backupPolicies.name).all();
  }

  controlPlane(): PolicyRow[] {
    return this.all().filter(isControlPlanePolicy);
  }

  // Which policies name this destination.
  using(destination: string): PolicyRow[] {
    return this.all().filter((p) => specOf(p).destinations.includes(destination));
  }

  require(name: string): PolicyRow {
    const row = this.byName(name);
    if (!row) throw new ApiError('not_found', `no backup policy named '${name}'`, 'list them with `podploy backup policy list`');
    return row;
  }

  // Creates or replaces by name; a replaced policy keeps its id (its runs stay its runs).
  save(spec: PolicySpec, nodeId: string | null): { row: PolicyRow; previous: PolicyRow | null } {
    const now = Date.now();
    const previous = this.byName(spec.name);
    if (previous) {
      const row = this.db
        .update(backupPolicies)
        .set({ app: spec.app ?? null, nodeId, spec, version: previous.version + 1, pushError: null, updatedAt: now })
        .where(eq(backupPolicies.id, previous.id))
        .returning()
        .get();
      return { row, previous };
    }
    const row = this.db
      .insert(backupPolicies)
      .values({ id: randomUUID(), name: spec.name, app: spec.app ?? null, nodeId, spec, version: 1, pushedVersion: 0, pushError: null, createdAt: now, updatedAt: now })
      .returning()
      .get();
    return { row, previous: null };
  }

  // A destination's settings changed: its policies must reach their nodes again.
  bump(id: string): void {
    const row = this.byId(id);
    if (row) this.db.update(backupPolicies).set({ version: row.version + 1, updatedAt: Date.now() }).where(eq(backupPolicies.id, id)).run();
  }

  markPushed(ids: { id: string; version: number }[], error: string | null): void {
    for (const { id, version } of ids) {
      const set = error === null ? { pushedVersion: version, pushError: null } : { pushError: error };
      this.db.update(backupPolicies).set(set).where(eq(backupPolicies.id, id)).run();
    }
  }

  delete(id: string): void {
    this.db.delete(backupPolicies).where(eq(backupPolicies.id, id)).run();
  }
}
