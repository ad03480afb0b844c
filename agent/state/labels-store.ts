import { join } from 'node:path';
import { readJson, writeJsonAtomic } from './atomic-file';

export const LABELS_FILE = 'labels.json';

// The node's labels, as the control plane last set them.
export class LabelsStore {
  private labels: Record<string, string>;
  private readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, LABELS_FILE);
    this.labels = readJson<Record<string, string>>(this.path, {});
  }

  get(): Record<string, string> {
    return { ...this.labels };
  }

  replace(labels: Record<string, string>): Record<string, string> {
    writeJsonAtomic(this.path, labels);
    this.labels = { ...labels };
    return this.get();
  }
}
