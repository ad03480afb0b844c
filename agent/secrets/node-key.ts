// Opens what the control plane sealed for this node (see proto/node-seal.ts) with the node's
// secrets key from the agent's config. The plain text lives only in memory.
import type { AgentConfig } from '../../proto/agent-config';
import { NODE_SECRETS_KEY_BYTES, openWithNodeKey } from '../../proto/node-seal';

export class NoSecretsKeyError extends Error {
  constructor(nodeId: string) {
    super(
      `node ${nodeId} has no secrets key in its agent config, so it cannot open sealed values (it was onboarded before secrets existed); ` +
        'run `podploy node add` for this node again (re-onboarding is idempotent), then retry',
    );
    this.name = 'NoSecretsKeyError';
  }
}

export function nodeSecretsKey(config: Pick<AgentConfig, 'nodeId' | 'secretsKey'>): Uint8Array {
  if (!config.secretsKey) throw new NoSecretsKeyError(config.nodeId);
  const key = Buffer.from(config.secretsKey, 'base64');
  if (key.length !== NODE_SECRETS_KEY_BYTES) throw new Error(`the agent config's secretsKey must be ${NODE_SECRETS_KEY_BYTES} bytes of base64, got ${key.length}`);
  return key;
}

export function openSealed(config: Pick<AgentConfig, 'nodeId' | 'secretsKey'>, sealed: Uint8Array): Uint8Array {
  return openWithNodeKey(nodeSecretsKey(config), config.nodeId, sealed);
}
