import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAlive, livePidFromFile, readPid, writePid } from './pid-files';

const dir = mkdtempSync(join(tmpdir(), 'podploy-pid-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pid files', () => {
  it('finds a live process only when its command line matches', async () => {
    const child = spawn('sleep', ['30']);
    const file = join(dir, 'sleep.pid');
    writePid(file, child.pid!);
    expect(readPid(file)).toBe(child.pid);
    expect(livePidFromFile(file, 'sleep 30')).toBe(child.pid);
    expect(livePidFromFile(file, 'podman system service')).toBeNull();
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(isAlive(child.pid!)).toBe(false);
    expect(livePidFromFile(file, 'sleep 30')).toBeNull();
  });

  it('refuses to overwrite in exclusive mode and reads garbage as no pid', () => {
    const file = join(dir, 'x.pid');
    writePid(file, 123);
    expect(() => writePid(file, 456, true)).toThrow(/EEXIST/);
    writePid(file, 0);
    expect(readPid(file)).toBeNull();
    expect(readPid(join(dir, 'absent.pid'))).toBeNull();
  });
});
