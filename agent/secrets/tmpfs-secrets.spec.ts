import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TmpfsSecrets } from './tmpfs-secrets';

const roots: string[] = [];
const shmRoot = () => {
  const r = mkdtempSync('/dev/shm/pp-tmpfs-spec-');
  roots.push(r);
  return r;
};
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

describe('secrets on tmpfs', () => {
  it('writes one 0400 file per name in a 0700 folder per container, and removes it', () => {
    const t = new TmpfsSecrets(shmRoot(), 4242);
    const dir = t.write('podploy-web-a-r1', { TOKEN: 'pp-secret-x', EMPTY: '' });
    expect(statSync(t.base).mode & 0o777).toBe(0o700);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir).sort()).toEqual(['EMPTY', 'TOKEN']);
    expect(statSync(join(dir, 'TOKEN')).mode & 0o777).toBe(0o400);
    expect(readFileSync(join(dir, 'TOKEN'), 'utf8')).toBe('pp-secret-x');
    // Written afresh: names that went are gone.
    t.write('podploy-web-a-r1', { OTHER: 'y' });
    expect(readdirSync(dir)).toEqual(['OTHER']);
    expect(t.list()).toEqual(['podploy-web-a-r1']);
    t.remove('podploy-web-a-r1');
    expect(t.has('podploy-web-a-r1')).toBe(false);
  });

  it('refuses a disk (not tmpfs), a base folder others can enter or a symlink, and bad names', () => {
    const disk = mkdtempSync(join(tmpdir(), 'pp-disk-'));
    roots.push(disk);
    expect(() => new TmpfsSecrets(disk, 1).write('c', { A: 'x' })).toThrow(/not a tmpfs/);
    const open = shmRoot();
    const t = new TmpfsSecrets(open, 7);
    mkdirSync(t.base);
    chmodSync(t.base, 0o755);
    expect(() => t.write('c', { A: 'x' })).toThrow(/not a private folder/);
    const linked = shmRoot();
    const l = new TmpfsSecrets(linked, 8);
    symlinkSync(shmRoot(), l.base);
    expect(() => l.write('c', { A: 'x' })).toThrow(/not a private folder/);
    const ok = new TmpfsSecrets(shmRoot(), 9);
    expect(() => ok.write('../escape', { A: 'x' })).toThrow(/cannot name a secrets folder/);
    expect(() => ok.write('c', { 'A/../../x': 'x' })).toThrow(/not an environment variable name/);
  });
});
