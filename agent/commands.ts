// The only way anything changes on the node through the agent: a command signed by the control
// plane, for this node, inside its time window, never seen before.
import type { KeyObject } from 'node:crypto';
import type { CommandEnvelope, CommandResult, SignedCommand } from '../proto/gen/podploy/agent/v1/agent';
import { CommandRejected, verifyCommand, type NonceStore } from '../proto/signing';
import type { Logger } from './logger';
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
  log: Logger;
  now?: () => number;
}

export class CommandExecutor {
  constructor(private readonly deps: CommandExecutorDeps) {}

  // Throws CommandRejected (the command must not be obeyed) or UnknownCommand.
  execute(signed: SignedCommand): CommandResult {
    const envelope = this.verify(signed);
    const result = this.apply(envelope);
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

  private apply(envelope: CommandEnvelope): CommandResult {
    if (envelope.setLabels) {
      const labels = this.deps.labels.replace(envelope.setLabels.labels);
      return { ok: true, message: `labels set (${Object.keys(labels).length})`, labels };
    }
    if (envelope.deployApp) throw new UnknownCommand('a signed deploy_app goes through the Deploy RPC (it streams its steps), not Execute');
    this.deps.log.warn({ event: 'command_unknown', actor: envelope.actor, nonce: envelope.nonce }, 'signed command of an unknown kind');
    throw new UnknownCommand('the signed command carries no command this agent knows; upgrade the agent');
  }
}

export function commandName(envelope: CommandEnvelope): string {
  if (envelope.setLabels) return 'set_labels';
  if (envelope.deployApp) return 'deploy_app';
  return 'unknown';
}
