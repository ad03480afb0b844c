// What a deploy needs from the secrets: the version a new release records, and a version's set
// sealed for the release's node (empty when the set is empty, so a node without a secrets key
// can still run apps that have none).
import type { SecretStore } from './secret-store';
import { sealForNode, type NodeSealDeps } from './node-seal';

export class ReleaseSecrets {
  constructor(
    private store: SecretStore,
    private seal: NodeSealDeps,
  ) {}

  currentVersion(appId: string): number {
    return this.store.current(appId).version;
  }

  sealFor(appId: string, version: number, nodeId: string): Buffer {
    const values = this.store.values(appId, version);
    if (!Object.keys(values).length) return Buffer.alloc(0);
    const plain = Buffer.from(JSON.stringify(values));
    try {
      return Buffer.from(sealForNode(this.seal, nodeId, plain));
    } finally {
      plain.fill(0);
    }
  }
}
