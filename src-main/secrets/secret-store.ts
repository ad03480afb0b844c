// An app's secrets as versioned sets. Every change writes the app's whole set again as a new
// version (sealed under the master key), so a release can name the exact set it ran with and a
// rollback gets it back. Values leave this module only for a deploy (values()); everything an
// operator sees is names, who and when.
import { and, desc, eq } from 'drizzle-orm';
import { ApiError, EnvKey, type SecretsSummary } from '../api/contract';
import type { Db } from '../db/database';
import { secretVersions } from '../db/schema';

export const MAX_SECRET_VALUE_BYTES = 64 * 1024;
export const MAX_SECRETS_PER_APP = 200;

export interface SecretSealer {
  seal(value: Uint8Array, context: string): Buffer;
  open(sealed: Uint8Array, context: string): Buffer;
}

export type SecretEntry = SecretsSummary['secrets'][number];

const sealContext = (appId: string, version: number) => `app-secrets:${appId}:${version}`;

export class SecretStore {
  constructor(
    private db: Db,
    private sealer: SecretSealer,
  ) {}

  // The app's current version (0: no secrets yet) and its names.
  current(appId: string): { version: number; entries: SecretEntry[] } {
    const row = this.db.select().from(secretVersions).where(eq(secretVersions.appId, appId)).orderBy(desc(secretVersions.version)).limit(1).get();
    return row ? { version: row.version, entries: row.entries } : { version: 0, entries: [] };
  }

  set(appId: string, values: Record<string, string>, actor: string): { version: number; entries: SecretEntry[] } {
    const names = Object.keys(values);
    if (!names.length) throw new ApiError('invalid_input', 'no secret given', 'pass NAME=VALUE pairs (or --stdin)');
    checkNames(names);
    for (const [name, value] of Object.entries(values)) checkValue(name, value);
    return this.change(appId, actor, (set, entries, now) => {
      for (const name of names) {
        set[name] = values[name];
        entries.set(name, { name, updatedAt: now, updatedBy: actor });
      }
      if (entries.size > MAX_SECRETS_PER_APP) throw new ApiError('invalid_input', `an app holds at most ${MAX_SECRETS_PER_APP} secrets; this change would make ${entries.size}`, 'unset the ones no longer used');
    });
  }

  unset(appId: string, names: string[], actor: string): { version: number; entries: SecretEntry[] } {
    checkNames(names);
    return this.change(appId, actor, (set, entries) => {
      const missing = names.filter((n) => !(n in set));
      if (missing.length) {
        throw new ApiError('not_found', `no secret named ${missing.map((n) => `'${n}'`).join(', ')}; nothing was changed`, 'list the names with `podploy secrets list APP`');
      }
      for (const name of names) {
        delete set[name];
        entries.delete(name);
      }
    });
  }

  // The plain values of one version, for sealing to the node; {} for version 0.
  values(appId: string, version: number): Record<string, string> {
    if (version === 0) return {};
    const row = this.db
      .select()
      .from(secretVersions)
      .where(and(eq(secretVersions.appId, appId), eq(secretVersions.version, version)))
      .get();
    if (!row) throw new ApiError('not_found', `secret version ${version} of the app does not exist`, 'the release refers to secrets that were removed; deploy the current version instead');
    return JSON.parse(this.sealer.open(row.sealed, sealContext(appId, version)).toString('utf8')) as Record<string, string>;
  }

  // One transaction: read the current set, apply, write the next version.
  private change(appId: string, actor: string, apply: (set: Record<string, string>, entries: Map<string, SecretEntry>, now: number) => void) {
    return this.db.transaction((tx) => {
      const cur = this.current(appId);
      const set = this.values(appId, cur.version);
      const entries = new Map(cur.entries.map((e) => [e.name, e]));
      const now = Date.now();
      apply(set, entries, now);
      const version = cur.version + 1;
      const sorted = [...entries.values()].sort((a, b) => a.name.localeCompare(b.name));
      tx.insert(secretVersions)
        .values({ appId, version, sealed: this.sealer.seal(Buffer.from(JSON.stringify(set)), sealContext(appId, version)), entries: sorted, createdBy: actor, createdAt: now })
        .run();
      return { version, entries: sorted };
    });
  }
}

function checkNames(names: string[]): void {
  const bad = names
    .map((name) => ({ name, r: EnvKey.safeParse(name) }))
    .filter((x) => !x.r.success)
    .map((x) => `'${x.name}': ${x.r.error!.issues[0].message}`);
  if (bad.length) throw new ApiError('invalid_input', `invalid secret name${bad.length > 1 ? 's' : ''}: ${bad.join('; ')}; nothing was changed`, 'a secret name is an environment key, e.g. DATABASE_URL');
}

function checkValue(name: string, value: string): void {
  if (typeof value !== 'string') throw new ApiError('invalid_input', `the value of '${name}' must be a string`);
  if (value.includes('\0')) throw new ApiError('invalid_input', `the value of '${name}' contains a NUL byte, which no environment variable can hold; nothing was changed`, 'encode binary values (e.g. base64)');
  if (Buffer.byteLength(value) > MAX_SECRET_VALUE_BYTES) {
    throw new ApiError('invalid_input', `the value of '${name}' is ${Buffer.byteLength(value)} bytes; at most ${MAX_SECRET_VALUE_BYTES} are allowed; nothing was changed`, 'keep large files in a volume and the key to them in the secret');
  }
}
