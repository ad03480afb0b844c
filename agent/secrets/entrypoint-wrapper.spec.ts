import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { secretsExportScript, wrapEntrypoint, WRAPPER_ARGV0 } from './entrypoint-wrapper';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function secretsDir(values: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'podploy-wrap-'));
  dirs.push(dir);
  for (const [k, v] of Object.entries(values)) writeFileSync(join(dir, k), v, { mode: 0o400 });
  return dir;
}

// Runs the wrapper exactly as the container would: sh -c SCRIPT argv0 ORIGINAL-ARGV...
function runWrapped(dir: string, argv: string[], env: Record<string, string> = {}): string {
  const w = wrapEntrypoint({ entrypoint: [], cmd: argv }, undefined, dir)!;
  return execFileSync(w.entrypoint[0], [...w.entrypoint.slice(1), ...w.command], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8' });
}

describe('secrets entrypoint wrapper', () => {
  it('keeps the image entrypoint, replaces only CMD with the release command, and puts no value in the spec', () => {
    const image = { entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx', '-g', 'daemon off;'] };
    const w = wrapEntrypoint(image, undefined)!;
    expect(w.entrypoint.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(w.entrypoint[3]).toBe(WRAPPER_ARGV0);
    expect(w.entrypoint[2]).toContain('/run/secrets/*');
    expect(w.command).toEqual(['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
    expect(wrapEntrypoint(image, ['nginx', '-T'])!.command).toEqual(['/docker-entrypoint.sh', 'nginx', '-T']);
    expect(wrapEntrypoint({ entrypoint: [], cmd: [] }, undefined)).toBeUndefined();
  });

  it('exports every file byte for byte (quotes, $, backticks, spaces, newlines) and execs the original argv', () => {
    const tricky = `a b "c" 'd' $HOME \`id\` $(id)\\n\nline2\n\n`;
    const dir = secretsDir({ TRICKY: tricky, PLAIN: 'pp-secret-1', EMPTY: '' });
    const out = runWrapped(dir, ['sh', '-c', 'printf "%s|" "$TRICKY" "$PLAIN" "${EMPTY-unset}" "$0" "$1"', 'arg0', 'arg 1']);
    expect(out).toBe(`${tricky}|pp-secret-1||arg0|arg 1|`);
  });

  it('lets a secret win over an environment variable of the same name, leaves the rest alone, and leaks no loop variables', () => {
    const dir = secretsDir({ TOKEN: 'from-secret' });
    const out = runWrapped(dir, ['sh', '-c', 'echo "$TOKEN $OTHER ${f-none} ${n-none} ${v-none}"'], { TOKEN: 'from-env', OTHER: 'kept' });
    expect(out.trim()).toBe('from-secret kept none none none');
  });

  it('runs the process with an empty secrets folder too', () => {
    expect(runWrapped(secretsDir({}), ['echo', 'hello']).trim()).toBe('hello');
  });

  it('the script text holds no value (only the folder)', () => {
    expect(secretsExportScript('/run/secrets')).not.toMatch(/pp-secret/);
  });
});
