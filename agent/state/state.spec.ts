import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LABELS_FILE, LabelsStore } from './labels-store';
import { NONCES_FILE, NonceFileStore } from './nonce-file-store';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'podploy-agent-state-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('LabelsStore', () => {
  it('starts empty, persists a replacement and reloads it', () => {
    expect(new LabelsStore(dir).get()).toEqual({});
    new LabelsStore(dir).replace({ role: 'web', zone: 'a' });
    expect(new LabelsStore(dir).get()).toEqual({ role: 'web', zone: 'a' });
    expect(JSON.parse(readFileSync(join(dir, LABELS_FILE), 'utf8'))).toEqual({ role: 'web', zone: 'a' });
    expect(readdirSync(dir)).toEqual([LABELS_FILE]);
  });

  it('refuses a corrupt file instead of forgetting the labels', () => {
    writeFileSync(join(dir, LABELS_FILE), '{not json');
    expect(() => new LabelsStore(dir)).toThrow(/labels\.json is not valid JSON/);
  });
});

describe('NonceFileStore', () => {
  it('remembers nonces across instances until they expire, and prunes expired ones on load', () => {
    let now = 1_000;
    const clock = () => now;
    const a = new NonceFileStore(dir, clock);
    a.add('n1', 2_000);
    a.add('n2', 5_000);
    const b = new NonceFileStore(dir, clock);
    expect(b.has('n1')).toBe(true);
    now = 3_000;
    const c = new NonceFileStore(dir, clock);
    expect(c.has('n1')).toBe(false);
    expect(c.has('n2')).toBe(true);
    expect(Object.keys(JSON.parse(readFileSync(join(dir, NONCES_FILE), 'utf8')))).toEqual(['n2']);
  });
});
