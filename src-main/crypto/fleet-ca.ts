import { randomBytes } from 'node:crypto';
import type { Vault } from './vault';
import { createCa, issueLeaf, loadCa, type CaMaterial, type CertAndKey } from './x509-certs';

export type { CertAndKey } from './x509-certs';
export const CA_VALIDITY_DAYS = 3650;
export const LEAF_VALIDITY_DAYS = 825;
export const CONTROL_PLANE_CN = 'podploy-control-plane';
export const agentServerName = (nodeId: string) => `${nodeId}.agents.podploy.internal`;

// The control plane is the fleet CA: it signs each agent's server certificate and its own
// client certificate. The CA key never leaves the vault unsealed except in memory.
export class FleetCa {
  private constructor(
    readonly caCertPem: string,
    private ca: CaMaterial,
    readonly client: CertAndKey,
  ) {}

  static async loadOrCreate(vault: Vault): Promise<FleetCa> {
    const stored = await getOrCreateJson(vault, 'fleet-ca', () => createCa(`PodPloy fleet CA ${randomBytes(4).toString('hex')}`, CA_VALIDITY_DAYS));
    const ca = await loadCa(stored);
    const client = await getOrCreateJson(vault, 'control-plane-client', () =>
      issueLeaf(ca, { commonName: CONTROL_PLANE_CN, usage: 'client' }, LEAF_VALIDITY_DAYS),
    );
    return new FleetCa(stored.certPem, ca, client);
  }

  issueAgentCert(nodeId: string): Promise<CertAndKey> {
    return issueLeaf(
      this.ca,
      { commonName: `podploy-agent ${nodeId}`, dnsNames: [agentServerName(nodeId)], ipAddresses: ['127.0.0.1'], usage: 'server' },
      LEAF_VALIDITY_DAYS,
    );
  }
}

async function getOrCreateJson(vault: Vault, name: string, create: () => Promise<CertAndKey>): Promise<CertAndKey> {
  const existing = vault.get(name);
  if (existing) return JSON.parse(existing.toString('utf8')) as CertAndKey;
  const made = await create();
  vault.put(name, Buffer.from(JSON.stringify(made)));
  return made;
}
