// The node's own copy of what should run, so Lazarus keeps enforcing it while the control plane
// is away and across agent restarts: per app, the signed DeployApp of its last successful deploy
// (payload and signature, as the control plane sent them) and whether it should run. One JSON
// file in the agent's state dir, written atomically. On load every entry's signature is checked
// again with the command key: an entry someone changed on disk is ignored, with a log line that
// says so, and Lazarus does not act on it.
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import type { CommandEnvelope, DeployApp, SignedCommand } from '../../proto/gen/podploy/agent/v1/agent';
import { CommandRejected, verifySignatureOnly } from '../../proto/signing';
import type { Logger } from '../logger';
import { readJson, writeJsonAtomic } from '../state/atomic-file';

export const DESIRED_STATE_FILE = 'desired-state.json';

// Who decided that an app is stopped: the operator (a signed SetAppRunning) or someone on the
// node (a direct `podman stop` that Lazarus saw).
export type StoppedBy = 'operator' | 'node';

interface StoredApp {
  deploy: { payload: string; signature: string };
  running: boolean;
  stoppedBy?: StoppedBy;
  updatedAt: string;
}

export interface DesiredApp {
  app: string;
  envelope: CommandEnvelope;
  deploy: DeployApp;
  signed: SignedCommand;
  running: boolean;
  stoppedBy?: StoppedBy;
}

export class DesiredStateStore {
  private readonly path: string;
  private stored: Record<string, StoredApp>;
  private readonly verified = new Map<string, DesiredApp>();

  constructor(
    stateDir: string,
    private readonly commandKey: KeyObject,
    private readonly nodeId: string,
    private readonly log?: Logger,
  ) {
    this.path = join(stateDir, DESIRED_STATE_FILE);
    this.stored = readJson<Record<string, StoredApp>>(this.path, {});
    for (const [app, entry] of Object.entries(this.stored)) {
      const checked = this.check(app, entry);
      if (checked) this.verified.set(app, checked);
    }
  }

  get(app: string): DesiredApp | undefined {
    return this.verified.get(app);
  }

  apps(): string[] {
    return [...this.verified.keys()];
  }

  // A successful deploy of `signed` (a verified DeployApp): the app should run it.
  deployed(signed: SignedCommand, envelope: CommandEnvelope): void {
    const app = envelope.deployApp?.app;
    if (!app || !envelope.deployApp) throw new Error('the desired state takes a signed deploy_app only');
    const entry: StoredApp = { deploy: encode(signed), running: true, updatedAt: new Date().toISOString() };
    this.write({ ...this.stored, [app]: entry });
    this.verified.set(app, { app, envelope, deploy: envelope.deployApp, signed: copy(signed), running: true });
  }

  // Returns false when the app has no desired state (nothing deployed through this agent).
  setRunning(app: string, running: boolean, stoppedBy?: StoppedBy): boolean {
    const entry = this.stored[app];
    const desired = this.verified.get(app);
    if (!entry || !desired) return false;
    const next: StoredApp = { ...entry, running, updatedAt: new Date().toISOString() };
    if (running) delete next.stoppedBy;
    else next.stoppedBy = stoppedBy ?? 'operator';
    this.write({ ...this.stored, [app]: next });
    this.verified.set(app, { ...desired, running, stoppedBy: next.stoppedBy });
    return true;
  }

  forget(app: string): void {
    if (!(app in this.stored)) return;
    const { [app]: _gone, ...rest } = this.stored;
    this.write(rest);
    this.verified.delete(app);
  }

  private write(next: Record<string, StoredApp>): void {
    writeJsonAtomic(this.path, next);
    this.stored = next;
  }

  private check(app: string, entry: StoredApp): DesiredApp | undefined {
    const ignore = (why: string) => {
      this.log?.error(
        { event: 'desired_state_ignored', app, reason: why, file: this.path },
        `the desired state of ${app} in ${this.path} is ignored: ${why}; Lazarus leaves the app alone until it is deployed again`,
      );
      return undefined;
    };
    let signed: SignedCommand;
    try {
      signed = { payload: Buffer.from(entry.deploy.payload, 'base64'), signature: Buffer.from(entry.deploy.signature, 'base64') };
    } catch {
      return ignore('the entry is not a stored signed command');
    }
    let envelope: CommandEnvelope;
    try {
      envelope = verifySignatureOnly(signed, this.commandKey, this.nodeId);
    } catch (err) {
      return ignore(err instanceof CommandRejected ? `its signature check failed (${err.message})` : (err as Error).message);
    }
    if (!envelope.deployApp) return ignore('the signed command is not a deploy_app');
    if (envelope.deployApp.app !== app) return ignore(`the signed deploy is for app "${envelope.deployApp.app}"`);
    return { app, envelope, deploy: envelope.deployApp, signed, running: entry.running !== false, stoppedBy: entry.running === false ? entry.stoppedBy ?? 'operator' : undefined };
  }
}

function encode(signed: SignedCommand): { payload: string; signature: string } {
  return { payload: Buffer.from(signed.payload).toString('base64'), signature: Buffer.from(signed.signature).toString('base64') };
}

function copy(signed: SignedCommand): SignedCommand {
  return { payload: Buffer.from(signed.payload), signature: Buffer.from(signed.signature) };
}
