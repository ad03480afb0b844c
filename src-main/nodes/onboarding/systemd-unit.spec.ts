import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentPaths, systemdUnit, UNIT_NAME } from './agent-files';

// The systemd path cannot run here (no systemd as PID 1), so the unit is checked by systemd's
// own verifier; .ci/run installs systemd for systemd-analyze.
function verify(unitText: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pp-unit-'));
  const home = join(dir, 'home');
  const p = agentPaths(home);
  mkdirSync(p.dir, { recursive: true });
  writeFileSync(p.bundle, '');
  const runtime = join(dir, 'xdg');
  mkdirSync(runtime, { mode: 0o700 });
  const unitFile = join(dir, UNIT_NAME);
  writeFileSync(unitFile, unitText.replaceAll('__HOME__', home));
  const r = spawnSync('systemd-analyze', ['verify', '--user', '--man=no', unitFile], {
    env: { ...process.env, XDG_RUNTIME_DIR: runtime },
    encoding: 'utf8',
  });
  expect(r.error, 'systemd-analyze must be installed (Debian package systemd)').toBeUndefined();
  return `${r.status === 0 ? '' : `exit ${r.status}\n`}${r.stdout}${r.stderr}`.trim();
}

describe('the systemd user unit', () => {
  const node = execFileSync('bash', ['-c', 'command -v node'], { encoding: 'utf8' }).trim();

  it('passes systemd-analyze verify', () => {
    expect(verify(systemdUnit(agentPaths('__HOME__'), node))).toBe('');
  });

  it('is checked for real: a broken unit is reported', () => {
    const broken = systemdUnit(agentPaths('__HOME__'), node).replace('Restart=always', 'Restart=sometimes');
    expect(verify(broken)).toContain('restart specifier');
  });
});
