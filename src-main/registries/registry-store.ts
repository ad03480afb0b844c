// Private registry credentials, docker-login style: one entry per registry server, kept sealed
// in the vault under the master key (XChaCha20-Poly1305) as a single record. Write-only: the
// API lists servers, users and dates; only a deploy reads a password, to seal it for a node.
import type { Vault } from '../crypto/vault';

export const REGISTRIES_VAULT_NAME = 'registry-credentials';

export interface RegistryCredential {
  server: string;
  username: string;
  password: string;
  // Plain HTTP or a certificate the node does not trust: Podman pulls without TLS verification.
  insecure: boolean;
  loggedInAt: number;
  loggedInBy: string;
}

export type RegistryEntry = Omit<RegistryCredential, 'password'>;

export class RegistryStore {
  constructor(private readonly vault: Vault) {}

  // Adds or replaces the server's credentials.
  login(cred: RegistryCredential): { replaced: boolean } {
    const all = this.read();
    const replaced = cred.server in all;
    all[cred.server] = cred;
    this.write(all);
    return { replaced };
  }

  logout(server: string): boolean {
    const all = this.read();
    if (!(server in all)) return false;
    delete all[server];
    this.write(all);
    return true;
  }

  list(): RegistryEntry[] {
    return Object.values(this.read())
      .sort((a, b) => a.server.localeCompare(b.server))
      .map(({ password: _password, ...entry }) => entry);
  }

  credentialsFor(server: string): RegistryCredential | undefined {
    return this.read()[server];
  }

  private read(): Record<string, RegistryCredential> {
    const raw = this.vault.get(REGISTRIES_VAULT_NAME);
    return raw ? (JSON.parse(raw.toString('utf8')) as Record<string, RegistryCredential>) : {};
  }

  private write(all: Record<string, RegistryCredential>): void {
    this.vault.put(REGISTRIES_VAULT_NAME, Buffer.from(JSON.stringify(all)));
  }
}
