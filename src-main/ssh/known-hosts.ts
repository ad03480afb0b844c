import { and, eq } from 'drizzle-orm';
import { ApiError } from '../api/contract';
import type { Db } from '../db/database';
import { knownHosts } from '../db/schema';
import type { HostKeySeen } from './ssh-session';

export type HostKeyStatus = 'new' | 'pinned' | 'changed';

// Trust on first use, then pin: the control plane remembers every server's host key.
export class KnownHosts {
  constructor(private db: Db) {}

  lookup(host: string, port: number) {
    return this.db.select().from(knownHosts).where(and(eq(knownHosts.host, host), eq(knownHosts.port, port))).get() ?? null;
  }

  status(host: string, port: number, seen: HostKeySeen): HostKeyStatus {
    const pinned = this.lookup(host, port);
    if (!pinned) return 'new';
    return pinned.hostKey === seen.keyBase64 ? 'pinned' : 'changed';
  }

  // The verdict used while connecting: pinned keys must match; a new key needs the operator's
  // confirmation (the expected fingerprint, or an explicit trust-on-first-use).
  verifier(host: string, port: number, opts: { expectedFingerprint?: string; acceptNew?: boolean }) {
    return (seen: HostKeySeen): true | ApiError => {
      const pinned = this.lookup(host, port);
      if (pinned) {
        if (pinned.hostKey === seen.keyBase64) return true;
        return new ApiError(
          'host_key_changed',
          `the host key of ${host}:${port} changed: pinned ${pinned.fingerprint}, the server now offers ${seen.fingerprint}. Refusing to connect — this can be a man-in-the-middle attack`,
          'if the server was reinstalled on purpose, remove the node and onboard it again after checking the new fingerprint on the server (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)',
        );
      }
      if (opts.expectedFingerprint) {
        if (opts.expectedFingerprint === seen.fingerprint) return true;
        return new ApiError('host_key_unconfirmed', `the host key of ${host}:${port} is ${seen.fingerprint}, not the confirmed ${opts.expectedFingerprint}`, 'check the fingerprint on the server and try again');
      }
      if (opts.acceptNew) return true;
      return new ApiError('host_key_unconfirmed', `${host}:${port} is a new server with host key ${seen.fingerprint}; it must be confirmed before PodPloy trusts it`, 'confirm the fingerprint (CLI: --yes or --fingerprint SHA256:...)');
    };
  }

  pin(host: string, port: number, seen: HostKeySeen): void {
    if (this.lookup(host, port)) return;
    this.db
      .insert(knownHosts)
      .values({ host, port, keyType: seen.keyType, fingerprint: seen.fingerprint, hostKey: seen.keyBase64, pinnedAt: Date.now() })
      .run();
  }
}
