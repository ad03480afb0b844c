// Values the control plane seals for one node (release secrets, registry credentials): the same
// format on both ends. XChaCha20-Poly1305 under the node's 32-byte secrets key (delivered in the
// agent's 0600 config at onboarding): version byte, 24-byte random nonce, ciphertext + tag. The
// node id is bound as associated data, so a value sealed for one node opens on no other.
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from 'node:crypto';

export const NODE_SECRETS_KEY_BYTES = 32;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const FORMAT_VERSION = 1;

export const nodeSealContext = (nodeId: string): string => `podploy-node-seal:v1:${nodeId}`;

export function sealWithNodeKey(key: Uint8Array, nodeId: string, plaintext: Uint8Array): Uint8Array {
  assertKey(key);
  const nonce = randomBytes(NONCE_BYTES);
  const ct = xchacha20poly1305(key, nonce, Buffer.from(nodeSealContext(nodeId))).encrypt(plaintext);
  return Buffer.concat([Buffer.from([FORMAT_VERSION]), nonce, ct]);
}

export function openWithNodeKey(key: Uint8Array, nodeId: string, sealed: Uint8Array): Uint8Array {
  assertKey(key);
  if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== FORMAT_VERSION) {
    throw new Error(`sealed value for node ${nodeId} is malformed (format v${sealed[0] ?? '?'}, ${sealed.length} bytes)`);
  }
  const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
  try {
    return xchacha20poly1305(key, nonce, Buffer.from(nodeSealContext(nodeId))).decrypt(sealed.subarray(1 + NONCE_BYTES));
  } catch {
    throw new Error(`cannot open a value sealed for node ${nodeId}: it was altered, or sealed for another node or under an older secrets key (re-run \`podploy node add\` for this node, then deploy again)`);
  }
}

function assertKey(key: Uint8Array): void {
  if (key.length !== NODE_SECRETS_KEY_BYTES) throw new Error(`a node secrets key is ${NODE_SECRETS_KEY_BYTES} bytes, got ${key.length}`);
}
