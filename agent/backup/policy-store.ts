// The node's backup state: the last signed SetBackupPolicies, kept as the control plane sent
// it (payload and signature; credentials and the key stay sealed) in the state folder, so
// schedules run while the control plane is closed and across agent restarts. On load the
// signature is checked again: a file changed on disk is ignored, with a log line saying so.
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { CommandEnvelope, SignedCommand } from '../../proto/gen/podploy/agent/v1/agent';
import { CommandRejected, verifySignatureOnly } from '../../proto/signing';
import type { Logger } from '../logger';
import { readJson, writeJsonAtomic } from '../state/atomic-file';
import { BackupPoliciesRefused, checkPolicies, type NodePolicies, type PolicyCheckOptions } from './policies';

export const BACKUP_POLICIES_FILE = 'backup-policies.json';

interface StoredPolicies {
  payload: string;
  signature: string;
  storedAt: string;
}

export class BackupPolicyStore {
  private readonly path: string;
  private current: NodePolicies = { policies: [], key: undefined };
  private issuedAtMs = 0;

  constructor(
    stateDir: string,
    private readonly commandKey: KeyObject,
    private readonly nodeId: string,
    private readonly check: PolicyCheckOptions,
    private readonly log: Logger,
  ) {
    this.path = join(stateDir, BACKUP_POLICIES_FILE);
    this.load();
  }

  get(): NodePolicies {
    return this.current;
  }

  // Checks a verified SetBackupPolicies and, when every policy passes, stores and returns it.
  replace(signed: SignedCommand, envelope: CommandEnvelope): NodePolicies {
    const set = envelope.setBackupPolicies;
    if (!set) throw new Error('the backup policy store takes a signed set_backup_policies only');
    if (envelope.issuedAtMs < this.issuedAtMs) {
      throw new BackupPoliciesRefused(`backup policies refused, nothing changed: they were issued at ${new Date(envelope.issuedAtMs).toISOString()}, before the ones this node holds (${new Date(this.issuedAtMs).toISOString()}); push the policies again`);
    }
    const next = checkPolicies(set, this.check);
    writeJsonAtomic(this.path, { payload: Buffer.from(signed.payload).toString('base64'), signature: Buffer.from(signed.signature).toString('base64'), storedAt: new Date().toISOString() } satisfies StoredPolicies);
    this.current = next;
    this.issuedAtMs = envelope.issuedAtMs;
    return next;
  }

  private load(): void {
    let stored: StoredPolicies | null;
    try {
      stored = readJson<StoredPolicies | null>(this.path, null);
    } catch (err) {
      return this.ignore((err as Error).message);
    }
    if (!stored) return;
    let envelope: CommandEnvelope;
    try {
      const signed = { payload: Buffer.from(String(stored.payload), 'base64'), signature: Buffer.from(String(stored.signature), 'base64') };
      envelope = verifySignatureOnly(signed, this.commandKey, this.nodeId);
    } catch (err) {
      return this.ignore(err instanceof CommandRejected ? `its signature check failed (${err.message})` : (err as Error).message);
    }
    if (!envelope.setBackupPolicies) return this.ignore('the signed command in it is not a set_backup_policies');
    try {
      this.current = checkPolicies(envelope.setBackupPolicies, this.check);
      this.issuedAtMs = envelope.issuedAtMs;
    } catch (err) {
      return this.ignore((err as Error).message);
    }
    this.log.info({ event: 'backup_policies_loaded', policies: this.current.policies.length }, `${this.current.policies.length} backup policies loaded from ${this.path}`);
  }

  private ignore(why: string): void {
    this.log.error(
      { event: 'backup_policies_ignored', reason: why, file: this.path },
      `the backup policies in ${this.path} are ignored: ${why}; no backup runs on this node until the control plane pushes its policies again`,
    );
  }
}
