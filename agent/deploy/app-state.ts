// Which slot is live for each app on this node, and which release runs there. Persisted as one
// JSON file in the agent's state dir (atomic writes), so the agent restores its gates and knows
// v1 after a restart.
import { join } from 'node:path';
import { readJson, writeJsonAtomic } from '../state/atomic-file';
import type { SlotName } from '../ingress/slots';
import { APP_STATE_FILE } from './constants';

export interface LiveRelease {
  slot: SlotName;
  release: string;
  container: string;
  image: string;
  imageId: string;
  digest: string;
  stopGraceMs: number;
  // ISO time the release went into service.
  since: string;
  // Image ids of the app's last releases, oldest first (what image pruning keeps).
  recentImages?: string[];
}

export class AppStateStore {
  private readonly path: string;
  private apps: Record<string, LiveRelease>;

  constructor(stateDir: string) {
    this.path = join(stateDir, APP_STATE_FILE);
    this.apps = readJson<Record<string, LiveRelease>>(this.path, {});
  }

  live(app: string): LiveRelease | undefined {
    const r = this.apps[app];
    return r ? { ...r } : undefined;
  }

  all(): Record<string, LiveRelease> {
    return structuredClone(this.apps);
  }

  setLive(app: string, release: LiveRelease): void {
    const next = { ...this.apps, [app]: { ...release } };
    writeJsonAtomic(this.path, next);
    this.apps = next;
  }

  forget(app: string): void {
    const { [app]: _gone, ...rest } = this.apps;
    writeJsonAtomic(this.path, rest);
    this.apps = rest;
  }
}
