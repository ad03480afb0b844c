// Each app's restart history (back-off step, restarts in the crash-loop window, the crash-loop
// mark), persisted in the agent's state dir so an agent restart does not forget a crash loop.
import { join } from 'node:path';
import { readJson, writeJsonAtomic } from '../state/atomic-file';
import type { RestartHistory } from './restart-policy';

export const RESTART_HISTORY_FILE = 'restart-history.json';

export class RestartHistoryStore {
  private readonly path: string;
  private all: Record<string, RestartHistory>;

  constructor(stateDir: string) {
    this.path = join(stateDir, RESTART_HISTORY_FILE);
    this.all = readJson<Record<string, RestartHistory>>(this.path, {});
  }

  get(app: string): RestartHistory | undefined {
    const h = this.all[app];
    return h ? structuredClone(h) : undefined;
  }

  set(app: string, history: RestartHistory): void {
    const next = { ...this.all, [app]: history };
    writeJsonAtomic(this.path, next);
    this.all = next;
  }

  forget(app: string): void {
    if (!(app in this.all)) return;
    const { [app]: _gone, ...rest } = this.all;
    writeJsonAtomic(this.path, rest);
    this.all = rest;
  }
}
