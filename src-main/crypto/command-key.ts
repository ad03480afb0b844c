import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Vault } from './vault';

// The Ed25519 key that signs every state-changing command the control plane sends to agents.
export class CommandKey {
  private constructor(
    readonly privateKey: KeyObject,
    readonly publicKeyPem: string,
  ) {}

  static loadOrCreate(vault: Vault): CommandKey {
    const pem = vault
      .getOrCreate('command-signing-key', () => {
        const { privateKey } = generateKeyPairSync('ed25519');
        return Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
      })
      .toString('utf8');
    const privateKey = createPrivateKey(pem);
    const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string;
    return new CommandKey(privateKey, publicKeyPem);
  }
}
