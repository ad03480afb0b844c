// A node holds all of its backup policies as one signed SetBackupPolicies (it runs their schedules
// by itself while the control plane is closed). Every change pushes the node's whole set; a node
// that is offline gets it when its link comes up again.
import type { BackupPolicy as WirePolicy } from '../../proto/gen/podploy/agent/v1/agent';
import type { Fleet } from '../agents/fleet';
import { sealForNode, type NodeSealDeps } from '../secrets/node-seal';
import type { NodeStore } from '../nodes/node-store';
import { nodeBackupKey } from './backup-keys';
import type { DestinationStore } from './destination-store';
import { specOf, type PolicyRow, type PolicyStore } from './policy-store';

// Pushing waits for the agent to check every policy and store the signed set.
export const PUSH_DEADLINE_MS = 30_000;

export interface PolicyPushDeps {
  policies: PolicyStore;
  destinations: DestinationStore;
  nodes: NodeStore;
  seal: NodeSealDeps;
  masterKey: Uint8Array;
  fleet: Pick<Fleet, 'isOnline' | 'link'>;
}

export function toWirePolicy(row: PolicyRow, d: Pick<PolicyPushDeps, 'destinations' | 'seal'>, forNode: string): WirePolicy {
  const spec = specOf(row);
  const s = spec.source;
  return {
    id: row.id,
    name: row.name,
    app: row.app ?? '',
    source: {
      kind: s.kind,
      volume: s.kind === 'volume' ? s.volume : '',
      consistency: s.kind === 'volume' ? s.consistency : '',
      database: s.kind === 'postgres' || s.kind === 'mysql' ? s.database : '',
      user: (s.kind === 'postgres' || s.kind === 'mysql') && s.user ? s.user : '',
      path: s.kind === 'sqlite' ? s.path : '',
      passwordSecret: (s.kind === 'postgres' || s.kind === 'mysql') && s.passwordSecret ? s.passwordSecret : '',
    },
    schedules: spec.schedules,
    timezone: spec.timezone,
    destinations: spec.destinations.map((name) => d.destinations.wireFor(d.destinations.require(name), d.seal, forNode)),
    retention: { ...spec.retention },
    retryAttempts: spec.retryAttempts,
    retryDelayMs: spec.retryDelayMs,
    enabled: spec.enabled,
  };
}

export class PolicyPusher {
  // Nodes that lost a policy while offline (they have nothing left to mark as unpushed).
  private pendingRemoval = new Set<string>();

  constructor(
    private d: PolicyPushDeps,
    private actor = 'podploy (backup policies)',
  ) {}

  // Whether the node holds an older set than the stored one.
  stale(nodeId: string): boolean {
    return this.pendingRemoval.has(nodeId) || this.d.policies.onNode(nodeId).some((p) => p.pushedVersion !== p.version);
  }

  // Pushes the node's whole set; records the outcome on every policy of the node. Never throws:
  // the error is what the policies' pushError says.
  async push(nodeId: string, actor = this.actor): Promise<{ ok: boolean; error: string | null }> {
    const rows = this.d.policies.onNode(nodeId);
    const versions = rows.map((r) => ({ id: r.id, version: r.version }));
    const node = this.d.nodes.byId(nodeId);
    const name = node?.name ?? nodeId;
    if (!this.d.fleet.isOnline(nodeId)) {
      const error = `node '${name}' is offline; its policies are pushed when it comes back`;
      this.d.policies.markPushed(versions, error);
      if (!rows.length) this.pendingRemoval.add(nodeId);
      return { ok: false, error };
    }
    try {
      const key = nodeBackupKey(this.d.masterKey, nodeId);
      const setBackupPolicies = {
        policies: rows.map((r) => toWirePolicy(r, this.d, nodeId)),
        sealedBackupKey: Buffer.from(sealForNode(this.d.seal, nodeId, key)),
      };
      key.fill(0);
      const conn = await this.d.fleet.link(nodeId).connection();
      const res = await conn.execute({ actor, setBackupPolicies }, undefined, PUSH_DEADLINE_MS);
      if (!res.ok) throw new Error(res.message || 'the agent refused the policies');
      this.d.policies.markPushed(versions, null);
      this.pendingRemoval.delete(nodeId);
      return { ok: true, error: null };
    } catch (err) {
      const error = `node '${name}' did not take its backup policies: ${err instanceof Error ? err.message : String(err)}`;
      this.d.policies.markPushed(versions, error);
      if (!rows.length) this.pendingRemoval.add(nodeId);
      return { ok: false, error };
    }
  }
}
