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
    const { nodeId, commandKey, nonces, log } = this.deps;
    let envelope: CommandEnvelope;
    try {
      envelope = verifyCommand(signed, commandKey, { nodeId, nonces, now: this.deps.now?.() });
    } catch (err) {
      if (err instanceof CommandRejected) log.warn({ event: 'command_rejected', reason: err.reason, detail: err.message }, 'command rejected');
      throw err;
    }
    const result = this.apply(envelope);
    log.info({ event: 'command_applied', actor: envelope.actor, nonce: envelope.nonce, command: commandName(envelope) }, result.message);
    return result;
  }

  private apply(envelope: CommandEnvelope): CommandResult {
    if (envelope.setLabels) {
      const labels = this.deps.labels.replace(envelope.setLabels.labels);
      return { ok: true, message: `labels set (${Object.keys(labels).length})`, labels };
    }
    this.deps.log.warn({ event: 'command_unknown', actor: envelope.actor, nonce: envelope.nonce }, 'signed command of an unknown kind');
    throw new UnknownCommand('the signed command carries no command this agent knows; upgrade the agent');
  }
}

function commandName(envelope: CommandEnvelope): string {
  return envelope.setLabels ? 'set_labels' : 'unknown';
}
