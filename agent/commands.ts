// The only way anything changes on the node through the agent: a command signed by the control
// plane, for this node, inside its time window, never seen before.
import type { KeyObject } from 'node:crypto';
import type { CommandEnvelope, CommandResult, RemoveApp, SetAppRunning, SetIngressSettings, SignedCommand, TestBackupDestination } from '../proto/gen/podploy/agent/v1/agent';
import { tlsSettingsProblems, type HttpRedirectMode, type IngressTlsSettings } from '../proto/ingress-tls';
import { CommandRejected, verifyCommand, type NonceStore } from '../proto/signing';
import type { Logger } from './logger';
import { BackupPoliciesRefused } from './backup/policies';
import { removeApp, type AppRemoverDeps } from './deploy/remove-app';
import type { TlsSettingsOutcome } from './ingress/runtime';
import type { LabelsStore } from './state/labels-store';

export class UnknownCommand extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownCommand';
  }
}

export interface CommandExecutorDeps {
  nodeId: string;
  commandKey: KeyObject;
  nonces: NonceStore;
  labels: LabelsStore;
  // The node's ingress (SetIngressSettings); absent: the command is refused.
  ingress?: { setTlsSettings(settings: IngressTlsSettings): Promise<TlsSettingsOutcome> };
  // The node's apps (RemoveApp); absent: the command is refused.
  apps?: Omit<AppRemoverDeps, 'log'>;
  // Lazarus (SetAppRunning); absent: the command is refused.
  lazarus?: { setRunning(app: string, running: boolean): Promise<string> };
  // The node's backups (SetBackupPolicies, TestBackupDestination); absent: refused.
  backups?: {
    setPolicies(signed: SignedCommand, envelope: CommandEnvelope): string;
    testDestination(wire: TestBackupDestination): Promise<{ ok: boolean; message: string }>;
  };
  log: Logger;
  now?: () => number;
}

export class CommandExecutor {
  constructor(private readonly deps: CommandExecutorDeps) {}

  // Rejects with CommandRejected (the command must not be obeyed), UnknownCommand, or the
  // command's own error (nothing changed).
  async execute(signed: SignedCommand): Promise<CommandResult> {
    const envelope = this.verify(signed);
    const result = await this.apply(envelope, signed);
    this.deps.log.info({ event: 'command_applied', actor: envelope.actor, nonce: envelope.nonce, command: commandName(envelope) }, result.message);
    return result;
  }

  // The envelope of a command this node must obey (its nonce is now spent), for every RPC that
  // carries a SignedCommand (Execute, Deploy); throws CommandRejected, logged, otherwise.
  verify(signed: SignedCommand): CommandEnvelope {
    const { nodeId, commandKey, nonces, log } = this.deps;
    try {
      return verifyCommand(signed, commandKey, { nodeId, nonces, now: this.deps.now?.() });
    } catch (err) {
      if (err instanceof CommandRejected) log.warn({ event: 'command_rejected', reason: err.reason, detail: err.message }, 'command rejected');
      throw err;
    }
  }

  private async setIngressSettings(wire: SetIngressSettings): Promise<CommandResult> {
    if (!this.deps.ingress) throw new UnknownCommand('this agent runs without an ingress; set_ingress_settings cannot apply');
    const settings = ingressSettingsFromWire(wire);
    const { changed, loaded } = await this.deps.ingress.setTlsSettings(settings);
    const what = `ACME ${settings.acmeDirectory}${settings.acmeEmail ? ` (${settings.acmeEmail})` : ''}${settings.acmeCaRootPem ? ', extra root' : ''}, redirect ${settings.httpRedirect}`;
    const message = !changed ? `TLS settings unchanged: ${what}` : loaded ? `TLS settings applied, Caddy reloaded: ${what}` : `TLS settings stored: ${what}`;
    return { ok: true, message, labels: {} };
  }

  private async removeApp(wire: RemoveApp): Promise<CommandResult> {
    if (!this.deps.apps) throw new UnknownCommand('this agent runs without apps; remove_app cannot apply');
    const removed = await removeApp(wire.app, { removeVolumes: wire.removeVolumes }, { ...this.deps.apps, log: this.deps.log });
    return { ok: true, message: removed.message, labels: {} };
  }

  private async setAppRunning(wire: SetAppRunning): Promise<CommandResult> {
    if (!this.deps.lazarus) throw new UnknownCommand('this agent runs without Lazarus; set_app_running cannot apply');
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(wire.app)) throw new InvalidCommand(`set_app_running refused, nothing changed: "${wire.app}" is not an app name (lowercase letters, digits and dashes)`);
    const message = await this.deps.lazarus.setRunning(wire.app, wire.running);
    return { ok: true, message, labels: {} };
  }

  private async backupCommand(envelope: CommandEnvelope, signed: SignedCommand): Promise<CommandResult> {
    if (!this.deps.backups) throw new UnknownCommand('this agent runs without backups; backup commands cannot apply');
    try {
      if (envelope.setBackupPolicies) return { ok: true, message: this.deps.backups.setPolicies(signed, envelope), labels: {} };
      const tested = await this.deps.backups.testDestination(envelope.testBackupDestination!);
      return { ...tested, labels: {} };
    } catch (err) {
      if (err instanceof BackupPoliciesRefused) throw new InvalidCommand(err.message);
      throw err;
    }
  }

  private async apply(envelope: CommandEnvelope, signed: SignedCommand): Promise<CommandResult> {
    if (envelope.setLabels) {
      const labels = this.deps.labels.replace(envelope.setLabels.labels);
      return { ok: true, message: `labels set (${Object.keys(labels).length})`, labels };
    }
    if (envelope.setIngressSettings) return this.setIngressSettings(envelope.setIngressSettings);
    if (envelope.removeApp) return this.removeApp(envelope.removeApp);
    if (envelope.setAppRunning) return this.setAppRunning(envelope.setAppRunning);
    if (envelope.deployApp) throw new UnknownCommand('a signed deploy_app goes through the Deploy RPC (it streams its steps), not Execute');
    if (envelope.openTerminal) throw new UnknownCommand('a signed open_terminal goes through the Terminal RPC');
    if (envelope.setBackupPolicies || envelope.testBackupDestination) return this.backupCommand(envelope, signed);
    if (envelope.runBackup || envelope.restoreBackup) throw new UnknownCommand(`a signed ${envelope.runBackup ? 'run_backup' : 'restore_backup'} goes through the Backup RPC (it streams progress), not Execute`);
    this.deps.log.warn({ event: 'command_unknown', actor: envelope.actor, nonce: envelope.nonce }, 'signed command of an unknown kind');
    throw new UnknownCommand('the signed command carries no command this agent knows; upgrade the agent');
  }
}

export class InvalidCommand extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCommand';
  }
}

export function ingressSettingsFromWire(w: SetIngressSettings): IngressTlsSettings {
  const settings = { acmeDirectory: w.acmeDirectory, acmeEmail: w.acmeEmail, acmeCaRootPem: w.acmeCaRootPem, httpRedirect: w.httpRedirect as HttpRedirectMode };
  const problems = tlsSettingsProblems(settings);
  if (problems.length > 0) throw new InvalidCommand(`TLS settings refused, nothing changed: ${problems.join('; ')}`);
  return settings;
}

export function commandName(envelope: CommandEnvelope): string {
  if (envelope.setLabels) return 'set_labels';
  if (envelope.setIngressSettings) return 'set_ingress_settings';
  if (envelope.deployApp) return 'deploy_app';
  if (envelope.removeApp) return 'remove_app';
  if (envelope.setAppRunning) return 'set_app_running';
  if (envelope.openTerminal) return 'open_terminal';
  if (envelope.setBackupPolicies) return 'set_backup_policies';
  if (envelope.runBackup) return 'run_backup';
  if (envelope.restoreBackup) return 'restore_backup';
  if (envelope.testBackupDestination) return 'test_backup_destination';
  return 'unknown';
}
