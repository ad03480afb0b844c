// Backup destinations: the non-secret settings in plain JSON, the secret ones (DESTINATION_SECRET_FIELDS)
// sealed under the master key and never returned; a node gets them sealed under its own key.
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { DESTINATION_SECRET_FIELDS, type DestinationKindName } from '../../proto/backup-defaults';
import type { BackupDestination as WireDestination } from '../../proto/gen/podploy/agent/v1/agent';
import { describeDestination, parseDestinationConfig, type DestinationConfig } from '../../proto/backup/destinations/destination-config';
import { ApiError, type DestinationInput, type DestinationSummary } from '../api/contract';
import type { Vault } from '../crypto/vault';
import type { Db } from '../db/database';
import { backupDestinations } from '../db/schema';
import { sealForNode, type NodeSealDeps } from '../secrets/node-seal';

export type DestinationRow = typeof backupDestinations.$inferSelect;
type Settings = Record<string, string | number | boolean>;
type Secrets = Record<string, string>;

const sealContext = (name: string) => `backup-destination:${name}`;

export function secretFields(kind: DestinationKindName): readonly string[] {
  return DESTINATION_SECRET_FIELDS[kind];
}

// Splits an input into what may be shown and what is sealed.
export function splitDestination(input: DestinationInput): { settings: Settings; secrets: Secrets } {
  const { name: _n, kind, ...rest } = input;
  const secret = new Set(secretFields(kind));
  const settings: Settings = {};
  const secrets: Secrets = {};
  for (const [k, v] of Object.entries(rest)) {
    if (v === undefined) continue;
    if (secret.has(k)) secrets[k] = String(v);
    else settings[k] = v as string | number | boolean;
  }
  return { settings, secrets };
}

export class DestinationStore {
  constructor(
    private db: Db,
    private vault: Vault,
  ) {}

  all(): DestinationRow[] {
    return this.db.select().from(backupDestinations).orderBy(backupDestinations.name).all();
  }

  byName(name: string): DestinationRow | null {
    return this.db.select().from(backupDestinations).where(eq(backupDestinations.name, name)).get() ?? null;
  }

  byId(id: string): DestinationRow | null {
    return this.db.select().from(backupDestinations).where(eq(backupDestinations.id, id)).get() ?? null;
  }

  require(name: string): DestinationRow {
    const row = this.byName(name);
    if (!row) throw new ApiError('not_found', `no backup destination named '${name}'`, 'list them with `podploy backup destination list`');
    return row;
  }

  // Adds or replaces by name (the id stays, so runs keep pointing at it). Checked like the node
  // checks it, so a destination the agents would refuse is never stored.
  set(input: DestinationInput, createdBy: string): { row: DestinationRow; replaced: boolean } {
    const { settings, secrets } = splitDestination(input);
    try {
      parseDestinationConfig({ kind: input.kind, ...settings, ...secrets });
    } catch (err) {
      throw new ApiError('invalid_input', (err as Error).message, 'fix the settings named and set the destination again');
    }
    const sealed = Object.keys(secrets).length ? this.vault.seal(Buffer.from(JSON.stringify(secrets)), sealContext(input.name)) : null;
    const existing = this.byName(input.name);
    if (existing) {
      const row = this.db
        .update(backupDestinations)
        .set({ kind: input.kind, settings, sealedSecrets: sealed, createdBy })
        .where(eq(backupDestinations.id, existing.id))
        .returning()
        .get();
      return { row, replaced: true };
    }
    const row = this.db
      .insert(backupDestinations)
      .values({ id: randomUUID(), name: input.name, kind: input.kind, settings, sealedSecrets: sealed, createdAt: Date.now(), createdBy })
      .returning()
      .get();
    return { row, replaced: false };
  }

  delete(id: string): void {
    this.db.delete(backupDestinations).where(eq(backupDestinations.id, id)).run();
  }

  secretNames(row: DestinationRow): string[] {
    return row.sealedSecrets ? Object.keys(this.openSecrets(row)).sort() : [];
  }

  // The whole configuration, secrets opened: only for the control plane's own use (its state's
  // backups and `podploy state restore`); never returned through the API.
  config(row: DestinationRow): DestinationConfig {
    return { kind: row.kind, ...row.settings, ...this.openSecrets(row) } as DestinationConfig;
  }

  // As a node receives it: settings in config_json, secrets sealed for that node.
  wireFor(row: DestinationRow, seal: NodeSealDeps, nodeId: string): WireDestination {
    const secrets = this.openSecrets(row);
    const plain = Buffer.from(JSON.stringify(secrets));
    try {
      return {
        id: row.id,
        name: row.name,
        kind: row.kind,
        configJson: JSON.stringify({ kind: row.kind, ...row.settings }),
        sealedCredentials: Object.keys(secrets).length ? Buffer.from(sealForNode(seal, nodeId, plain)) : Buffer.alloc(0),
      };
    } finally {
      plain.fill(0);
    }
  }

  summary(row: DestinationRow): DestinationSummary {
    return {
      id: row.id,
      name: row.name,
      kind: row.kind,
      settings: row.settings,
      secrets: this.secretNames(row),
      where: describeDestination({ kind: row.kind, ...row.settings } as DestinationConfig),
      createdAt: row.createdAt,
      createdBy: row.createdBy,
    };
  }

  private openSecrets(row: DestinationRow): Secrets {
    if (!row.sealedSecrets) return {};
    return JSON.parse(this.vault.open(row.sealedSecrets, sealContext(row.name)).toString('utf8')) as Secrets;
  }
}
