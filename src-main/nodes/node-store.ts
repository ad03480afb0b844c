import { eq, and } from 'drizzle-orm';
import { ApiError, type Facts, type NodeSummary, type SshAuth, type Usage } from '../api/contract';
import type { Db } from '../db/database';
import { nodes } from '../db/schema';
import type { Vault } from '../crypto/vault';
import { formatSshAddress } from '../ssh/ssh-address';

export type NodeRow = typeof nodes.$inferSelect;
export type NewNodeRow = Omit<typeof nodes.$inferInsert, 'sshAuth'> & { auth: SshAuth };

// Node rows, with the SSH credentials sealed under the master key.
export class NodeStore {
  constructor(
    private db: Db,
    private vault: Vault,
  ) {}

  all(): NodeRow[] {
    return this.db.select().from(nodes).orderBy(nodes.name).all();
  }

  byName(name: string): NodeRow | null {
    return this.db.select().from(nodes).where(eq(nodes.name, name)).get() ?? null;
  }

  require(name: string): NodeRow {
    const row = this.byName(name);
    if (!row) throw new ApiError('not_found', `no node named '${name}'`, 'list nodes with `podploy node list`');
    return row;
  }

  byId(id: string): NodeRow | null {
    return this.db.select().from(nodes).where(eq(nodes.id, id)).get() ?? null;
  }

  byEndpoint(host: string, port: number, user: string): NodeRow | null {
    return this.db.select().from(nodes).where(and(eq(nodes.host, host), eq(nodes.port, port), eq(nodes.sshUser, user))).get() ?? null;
  }

  insert(row: NewNodeRow): NodeRow {
    const { auth, ...rest } = row;
    return this.db.insert(nodes).values({ ...rest, sshAuth: this.sealAuth(rest.id, auth) }).returning().get();
  }

  update(id: string, patch: Partial<Omit<NodeRow, 'id' | 'sshAuth'>> & { auth?: SshAuth }): NodeRow {
    const { auth, ...rest } = patch;
    const set: Partial<NodeRow> = { ...rest };
    if (auth) set.sshAuth = this.sealAuth(id, auth);
    return this.db.update(nodes).set(set).where(eq(nodes.id, id)).returning().get();
  }

  delete(id: string): void {
    this.db.delete(nodes).where(eq(nodes.id, id)).run();
  }

  auth(row: NodeRow): SshAuth {
    return JSON.parse(this.vault.open(row.sshAuth, `node-ssh-auth:${row.id}`).toString('utf8')) as SshAuth;
  }

  private sealAuth(id: string, auth: SshAuth): Buffer {
    return this.vault.seal(Buffer.from(JSON.stringify(auth)), `node-ssh-auth:${id}`);
  }
}

export function toSummary(row: NodeRow, online: boolean): NodeSummary {
  return {
    id: row.id,
    name: row.name,
    address: formatSshAddress({ user: row.sshUser, host: row.host, port: row.port }),
    status: online ? 'online' : 'offline',
    lastSeenAt: row.lastSeenAt ?? null,
    serviceMode: row.serviceMode,
    agentVersion: row.agentVersion,
    hostKeyFingerprint: row.hostKeyFingerprint,
    facts: (row.facts as Facts | null) ?? null,
    usage: (row.usage as Usage | null) ?? null,
    labels: row.labels ?? {},
    createdAt: row.createdAt,
  };
}
