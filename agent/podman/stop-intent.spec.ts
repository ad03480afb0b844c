import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliIntentOf, PodmanCliScanner, podmanCliIntent } from './stop-intent';

const ID = 'ab12cd34'.repeat(8);
const C = { id: ID, name: 'podploy-web-a-r1' };

describe('cliIntentOf', () => {
  it('sees podman stop and restart of the container by name, id prefix or --all', () => {
    expect(cliIntentOf(['podman', 'stop', 'podploy-web-a-r1'], C)).toBe('stop');
    expect(cliIntentOf(['/usr/bin/podman', 'container', 'stop', '-t', '3', 'ab12cd'], C)).toBe('stop');
    expect(cliIntentOf(['podman', '--log-level', 'debug', 'stop', '--all'], C)).toBe('stop');
    expect(cliIntentOf(['podman', 'restart', ID], C)).toBe('restart');
  });

  it('ignores other containers, other commands and other programs', () => {
    expect(cliIntentOf(['podman', 'stop', 'podploy-api-a-r1'], C)).toBeUndefined();
    expect(cliIntentOf(['podman', 'stop', 'ab'], C)).toBeUndefined();
    expect(cliIntentOf(['podman', 'exec', 'podploy-web-a-r1', 'stop'], C)).toBeUndefined();
    expect(cliIntentOf(['podman', 'pod', 'stop', '--all'], C)).toBeUndefined();
    expect(cliIntentOf(['podman', 'system', 'service', '--time=0'], C)).toBeUndefined();
    expect(cliIntentOf(['docker', 'stop', 'podploy-web-a-r1'], C)).toBeUndefined();
    expect(cliIntentOf(['podman', 'kill', 'podploy-web-a-r1'], C)).toBeUndefined();
  });
});

describe('podmanCliIntent', () => {
  const proc = mkdtempSync(join(tmpdir(), 'podploy-proc-'));
  afterAll(() => rmSync(proc, { recursive: true, force: true }));

  it('reads every process command line under the proc folder', () => {
    const add = (pid: number, argv: string[]) => {
      mkdirSync(join(proc, String(pid)));
      writeFileSync(join(proc, String(pid), 'cmdline'), `${argv.join('\0')}\0`);
    };
    add(10, ['sleep', '100']);
    mkdirSync(join(proc, 'self'));
    expect(podmanCliIntent(C, proc)).toBeUndefined();
    add(11, ['podman', 'stop', 'podploy-web-a-r1']);
    expect(podmanCliIntent(C, proc)).toBe('stop');
    expect(podmanCliIntent({ name: 'other' }, proc)).toBeUndefined();
    expect(podmanCliIntent(C, join(proc, 'missing'))).toBeUndefined();
  });
});

describe('PodmanCliScanner', () => {
  const proc = mkdtempSync(join(tmpdir(), 'podploy-proc-'));
  afterAll(() => rmSync(proc, { recursive: true, force: true }));
  const add = (pid: number, argv: string[]) => {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), 'cmdline'), `${argv.join('\0')}\0`);
  };

  it('reads a pid that is not podman once until the next full rescan', () => {
    let t = 0;
    const scanner = new PodmanCliScanner(proc, () => t);
    add(20, ['bash']);
    expect(scanner.intent(C)).toBeUndefined();
    // The same pid now runs podman (an exec): not seen until the rescan.
    add(20, ['podman', 'stop', C.name]);
    expect(scanner.intent(C)).toBeUndefined();
    t += 30_001;
    expect(scanner.intent(C)).toBe('stop');
    add(21, ['podman', 'restart', C.name]);
    rmSync(join(proc, '20'), { recursive: true });
    expect(scanner.intent(C)).toBe('restart');
  });
});
