import { describe, expect, it } from 'vitest';
import { AppSpec, LIVENESS_DEFAULTS, RESTART_DEFAULTS } from '../../src-main/api/contract';
import { buildSpec, buildUpdate, changedFields, formFromSpec, initialForm, type AppForm } from './app-form';
import { fieldOfLazarusIssue, joinCommand, lazarusInitialForm, splitCommand } from './lazarus-form';

const form = (patch: Partial<AppForm>): AppForm => ({ ...initialForm('h8'), name: 'web', image: 'localhost/app:v1', ...patch });
const spec = AppSpec.parse({ name: 'web', node: 'h8', source: { kind: 'image', image: 'localhost/app:v1' } });

describe('restart policy and liveness probe fields', () => {
  it('start from every default, written out, with no probe', () => {
    const f = lazarusInitialForm();
    expect(f).toMatchObject({
      restartInitialBackoffMs: String(RESTART_DEFAULTS.initialBackoffMs),
      restartMaxBackoffMs: String(RESTART_DEFAULTS.maxBackoffMs),
      restartJitter: String(RESTART_DEFAULTS.jitter),
      restartCrashLoopRestarts: String(RESTART_DEFAULTS.crashLoopRestarts),
      livenessKind: 'none',
      livenessPath: LIVENESS_DEFAULTS.path,
      livenessStatus: `${LIVENESS_DEFAULTS.statusMin}-${LIVENESS_DEFAULTS.statusMax}`,
      livenessFailureThreshold: String(LIVENESS_DEFAULTS.failureThreshold),
    });
    const r = buildSpec(form({}));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect('liveness' in r.spec).toBe(false);
    expect(AppSpec.parse(r.spec).restart).toEqual(RESTART_DEFAULTS);
  });

  it('build an HTTP probe with a status range and a changed restart policy', () => {
    const r = buildSpec(form({ livenessKind: 'http', livenessPath: '/alive', livenessStatus: '204', restartMaxBackoffMs: '60000', restartJitter: '0', livenessIntervalMs: '' }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.spec.liveness).toMatchObject({ kind: 'http', path: '/alive', statusMin: 204, statusMax: 204, timeoutMs: LIVENESS_DEFAULTS.timeoutMs });
    expect(r.spec.liveness && 'intervalMs' in r.spec.liveness).toBe(false);
    expect(r.spec.restart).toMatchObject({ maxBackoffMs: 60_000, jitter: 0 });
  });

  it('build TCP and exec probes, the exec command as argv', () => {
    const tcp = buildSpec(form({ livenessKind: 'tcp', livenessPath: 'ignored' }));
    expect(tcp.ok && tcp.spec.liveness).toEqual({ kind: 'tcp', intervalMs: 10_000, timeoutMs: 2_000, failureThreshold: 3, initialDelayMs: 5_000 });
    const exec = buildSpec(form({ livenessKind: 'exec', livenessCommand: `sh -c "test -f '/tmp/alive'"` }));
    expect(exec.ok && exec.spec.liveness?.command).toEqual(['sh', '-c', "test -f '/tmp/alive'"]);
  });

  it("put the agent's own messages beside the field they are about, and build nothing", () => {
    const r = buildSpec(
      form({
        restartInitialBackoffMs: '-5',
        restartJitter: '3',
        restartCrashLoopRestarts: 'many',
        livenessKind: 'http',
        livenessPath: 'alive',
        livenessStatus: '399-200',
        livenessFailureThreshold: '0',
      }),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.restartInitialBackoffMs).toBe('restart initialBackoffMs must be a whole number from 0 to 3600000 (got -5)');
    expect(r.errors.restartJitter).toBe('restart jitter must be from 0 to 1 (got 3)');
    expect(r.errors.restartCrashLoopRestarts).toBe("'many' is not a number");
    expect(r.errors.livenessPath).toBe('liveness path must start with / (got "alive")');
    expect(r.errors.livenessStatus).toBe('liveness status range 399-200 is empty');
    expect(r.errors.livenessFailureThreshold).toBe('liveness failureThreshold must be a whole number from 1 to 100 (got 0)');
  });

  it('refuse a malformed status range, an empty or unclosed exec command and a timeout above the interval', () => {
    const bad = (patch: Partial<AppForm>) => {
      const r = buildSpec(form(patch));
      return r.ok ? {} : r.errors;
    };
    expect(bad({ livenessKind: 'http', livenessStatus: '2xx' }).livenessStatus).toBe('"2xx" is not a status range: write e.g. 200-399 or 204');
    expect(bad({ livenessKind: 'exec', livenessCommand: '  ' }).livenessCommand).toMatch(/^an exec probe needs a command/);
    expect(bad({ livenessKind: 'exec', livenessCommand: 'sh -c "x' }).livenessCommand).toBe('the command has an unclosed " quote');
    expect(bad({ livenessKind: 'tcp', livenessTimeoutMs: '20000' }).livenessTimeoutMs).toBe('liveness timeoutMs must not exceed intervalMs');
    expect(bad({ restartInitialBackoffMs: '9000', restartMaxBackoffMs: '1000' }).restartMaxBackoffMs).toBe('restart maxBackoffMs must not be below initialBackoffMs');
  });

  it('round-trip a saved probe and policy through the editor unchanged', () => {
    const saved = AppSpec.parse({
      ...spec,
      restart: { crashLoopRestarts: 8 },
      liveness: { kind: 'exec', command: ['sh', '-c', "echo 'ok' && test -f /tmp/x"], failureThreshold: 5 },
    });
    const f = formFromSpec(saved);
    expect(f).toMatchObject({ livenessKind: 'exec', restartCrashLoopRestarts: '8', livenessFailureThreshold: '5' });
    expect(changedFields(f, saved)).toEqual([]);
    const r = buildUpdate(f, saved);
    expect(r.ok && AppSpec.parse(r.spec)).toEqual(saved);
    // Turning the probe off removes it.
    const off = buildUpdate({ ...f, livenessKind: 'none' }, saved);
    expect(off.ok && AppSpec.parse(off.spec).liveness).toBeUndefined();
    expect(changedFields({ ...f, livenessKind: 'none' }, saved)).toEqual(['livenessKind']);
  });

  it('map issues without a field path by the setting they name', () => {
    expect(fieldOfLazarusIssue(['restart'], 'restart crashLoopWindowMs must be …')).toBe('restartCrashLoopWindowMs');
    expect(fieldOfLazarusIssue(['restart', 'jitter'], 'Invalid input')).toBe('restartJitter');
    expect(fieldOfLazarusIssue(['liveness'], 'an exec liveness probe needs a command (argv, no empty words)')).toBe('livenessCommand');
    expect(fieldOfLazarusIssue(['liveness'], 'liveness statusMax must be …')).toBe('livenessStatus');
    expect(fieldOfLazarusIssue(['liveness'], 'liveness initialDelayMs must be …')).toBe('livenessInitialDelayMs');
    expect(fieldOfLazarusIssue(['liveness', 'kind'], 'Invalid option')).toBe('livenessKind');
    expect(fieldOfLazarusIssue(['health'], 'x')).toBeNull();
  });
});

describe('exec command words', () => {
  it('split like a shell without expanding anything', () => {
    expect(splitCommand(`  wget -q -O- "http://localhost:8080/a b" 'it''s' a\\ b "q\\"x" $HOME `)).toEqual({
      argv: ['wget', '-q', '-O-', 'http://localhost:8080/a b', 'its', 'a b', 'q"x', '$HOME'],
    });
    expect(splitCommand(`x ''`)).toEqual({ argv: ['x', ''] });
  });

  it('join back to text that splits to the same argv', () => {
    for (const argv of [['sh', '-c', "echo 'hi' \"there\" && exit 1"], ['/bin/true'], ['a b', '', "it's", 'x=1,y:2/3']]) {
      const text = joinCommand(argv);
      expect(splitCommand(text)).toEqual({ argv });
    }
    expect(joinCommand(['/bin/check', '--port=8080'])).toBe('/bin/check --port=8080');
  });
});
