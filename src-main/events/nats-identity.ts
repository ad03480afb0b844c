// The nkeys of the fleet's event streams, kept sealed in the vault. The control plane has one
// user nkey: every node's nats-server lets it read the PodPloy streams and nothing else. Each
// node's agent has its own, written into the agent's 0600 config at onboarding and the same on
// every re-onboarding, so a re-run changes nothing on the node.
import { nkeys } from '@nats-io/transport-node';
import type { AgentNatsConfig } from '../../proto/agent-config';
import type { Vault } from '../crypto/vault';

export const CONTROL_PLANE_NKEY_NAME = 'nats-control-plane-nkey';
export const nodeAgentNkeyName = (nodeId: string): string => `node-nats-agent-nkey:${nodeId}`;

export interface NkeyIdentity {
  // The nkey seed (S...), as its ASCII bytes: what nkeyAuthenticator takes.
  seed: Uint8Array;
  // The user's public key (U...): what a nats-server config names.
  publicKey: string;
}

export function loadOrCreateControlPlaneNkey(vault: Vault): NkeyIdentity {
  return loadOrCreateUserNkey(vault, CONTROL_PLANE_NKEY_NAME);
}

// What onboarding writes into the agent config's `nats` section for a node.
export function nodeNatsIdentity(vault: Vault, nodeId: string): Pick<AgentNatsConfig, 'agentSeed' | 'controlPlaneNkey'> {
  const agent = loadOrCreateUserNkey(vault, nodeAgentNkeyName(nodeId));
  return { agentSeed: Buffer.from(agent.seed).toString('ascii'), controlPlaneNkey: loadOrCreateControlPlaneNkey(vault).publicKey };
}

function loadOrCreateUserNkey(vault: Vault, name: string): NkeyIdentity {
  const seed = new Uint8Array(vault.getOrCreate(name, () => nkeys.createUser().getSeed()));
  let publicKey: string;
  try {
    publicKey = nkeys.fromSeed(seed).getPublicKey();
  } catch (err) {
    throw new Error(`the vault entry ${name} is not an nkey seed (${(err as Error).message}); the control plane's database is damaged`);
  }
  return { seed, publicKey };
}
