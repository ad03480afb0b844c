// Each node has its own 32-byte secrets key: generated at onboarding, kept sealed in the vault
// here, and written into the agent's 0600 config on the node. What the control plane sends a
// node in confidence (release secrets, registry credentials) is sealed under that key, so it
// crosses the wire and rests on the node only as ciphertext; the agent opens it at use.
import { randomBytes } from 'node:crypto';
import { ApiError } from '../api/contract';
import type { Vault } from '../crypto/vault';
import type { NodeStore } from '../nodes/node-store';
import { NODE_SECRETS_KEY_BYTES, openWithNodeKey, sealWithNodeKey } from '../../proto/node-seal';

export interface NodeSealDeps {
  vault: Vault;
  // Only for the node's name in error messages.
  nodes?: NodeStore;
}

export const nodeSecretsKeyName = (nodeId: string): string => `node-secrets-key:${nodeId}`;

// Onboarding: the node's key, created on first use and the same on every re-onboarding.
export function ensureNodeSecretsKey(vault: Vault, nodeId: string): Buffer {
  return vault.getOrCreate(nodeSecretsKeyName(nodeId), () => randomBytes(NODE_SECRETS_KEY_BYTES));
}

export function hasNodeSecretsKey(vault: Vault, nodeId: string): boolean {
  return vault.get(nodeSecretsKeyName(nodeId)) !== null;
}

export function sealForNode(deps: NodeSealDeps, nodeId: string, plaintext: Uint8Array): Uint8Array {
  return sealWithNodeKey(requireKey(deps, nodeId), nodeId, plaintext);
}

// The control plane never needs to open what it sealed for a node; tests do.
export function openForNode(deps: NodeSealDeps, nodeId: string, sealed: Uint8Array): Uint8Array {
  return openWithNodeKey(requireKey(deps, nodeId), nodeId, sealed);
}

function requireKey(deps: NodeSealDeps, nodeId: string): Buffer {
  const key = deps.vault.get(nodeSecretsKeyName(nodeId));
  if (key) return key;
  const row = deps.nodes?.byId(nodeId);
  const which = row ? `node '${row.name}' (${row.sshUser}@${row.host}:${row.port})` : `node ${nodeId}`;
  throw new ApiError(
    'conflict',
    `${which} has no secrets key: it was onboarded before PodPloy could send it secrets, so nothing sealed can be delivered to it`,
    `run \`podploy node add ${row ? `ssh://${row.sshUser}@${row.host}:${row.port}` : 'ADDRESS'}\` again (re-onboarding is idempotent and keeps its apps), then retry`,
  );
}
