import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitWatch, findExitsDir, tmpDirCandidates, type ExitNotice } from './exit-watch';

const root = mkdtempSync(join(tmpdir(), 'podploy-exits-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const ID = 'f'.repeat(63) + '1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ExitWatch', () => {
  it('reports a conmon-style exit file (written under a temporary name, renamed) once, and not its deletion', async () => {
    const dir = join(root, 'exits');
    mkdirSync(dir);
    const seen: ExitNotice[] = [];
    const w = new ExitWatch({ dir, onExit: (n) => seen.push(n) });
    w.start();
    writeFileSync(join(dir, `${ID}.AB12CD`), '137');
    renameSync(join(dir, `${ID}.AB12CD`), join(dir, ID));
    writeFileSync(join(dir, 'not-a-container'), '0');
    await sleep(100);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ id: ID, exitCode: 137 });
    expect(seen[0].detectedAtMs - (seen[0].exitedAtMs as number)).toBeLessThan(100);
    rmSync(join(dir, ID));
    await sleep(50);
    expect(seen).toHaveLength(1);
    // The next death of the same container is a new file.
    writeFileSync(join(dir, `${ID}.X`), '0');
    renameSync(join(dir, `${ID}.X`), join(dir, ID));
    await sleep(100);
    expect(seen.map((n) => n.exitCode)).toEqual([137, 0]);
    w.close();
    expect(w.watching).toBe(false);
  });

  it('refuses to start on a folder that does not exist', () => {
    expect(() => new ExitWatch({ dir: join(root, 'nope'), onExit: () => undefined }).start()).toThrow('does not exist');
  });
});

describe("Podman's tmp dir", () => {
  it('rootful: /run/libpod; rootless: XDG_RUNTIME_DIR, /run/user/UID, /tmp/podman-run-UID', () => {
    const home = join(root, 'home');
    expect(tmpDirCandidates({}, 0, home)).toContain('/run/libpod');
    expect(tmpDirCandidates({ XDG_RUNTIME_DIR: '/run/user/1010' }, 1010, home)).toEqual(
      expect.arrayContaining(['/run/user/1010/libpod/tmp', '/tmp/podman-run-1010/libpod/tmp']),
    );
    expect(tmpDirCandidates({}, 1010, home).at(-1)).toBe('/tmp/podman-run-1010/libpod/tmp');
  });

  it("takes [engine] tmp_dir from the user's containers.conf first", () => {
    const home = join(root, 'home2');
    mkdirSync(join(home, '.config', 'containers'), { recursive: true });
    writeFileSync(join(home, '.config', 'containers', 'containers.conf'), '[containers]\ntmp_dir = "/wrong"\n[engine]\n# a comment\ntmp_dir = "/srv/podtmp"\n');
    expect(tmpDirCandidates({}, 1010, home)[0]).toBe('/srv/podtmp');
  });

  it('finds the first existing tmp dir and makes its exits folder', () => {
    const tmp = join(root, 'libpod-tmp');
    mkdirSync(tmp);
    expect(findExitsDir([join(root, 'missing'), tmp])).toBe(join(tmp, 'exits'));
    expect(findExitsDir([join(root, 'missing')])).toBeUndefined();
  });
});
