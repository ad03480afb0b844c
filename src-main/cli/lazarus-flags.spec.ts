import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LIVENESS_DEFAULTS, RESTART_DEFAULTS } from '../../proto/lazarus-defaults';
import { AppSpec, RestartPolicy, type AppSpecInput } from '../api/contract';
import { createControlPlane, type ControlPlane } from '../control-plane';
import { Vault } from '../crypto/vault';
import { NodeStore } from '../nodes/node-store';
import { applyUpdateFlags, type AppUpdateFlags } from './app-update-command';
import { formatAppInfo } from './format';
import { applyLazarusFlags, splitWords, type LazarusFlags, type LazarusSettings } from './lazarus-flags';

const fresh = (): LazarusSettings => ({ restart: RestartPolicy.parse({}) });
const apply = (f: LazarusFlags, current = fresh()) => applyLazarusFlags(current, f);
const refusal = (f: LazarusFlags, current = fresh()) => {
  try {
    apply(f, current);
  } catch (err) {
    return { message: (err as Error).message, hint: (err as { hint?: string }).hint, code: (err as { code?: string }).code };
  }
  throw new Error('not refused');
};

describe('applyLazarusFlags', () => {
  it('no flags: the restart defaults and no probe', () => {
    expect(apply({})).toEqual({ restart: { ...RESTART_DEFAULTS } });
  });

  it('reads each probe form with the probe defaults', () => {
    const d = { ...LIVENESS_DEFAULTS, command: [] };
    expect(apply({ liveness: 'http' }).liveness).toEqual({ ...d, kind: 'http' });
    expect(apply({ liveness: 'http:/healthz' }).liveness).toEqual({ ...d, kind: 'http', path: '/healthz' });
    expect(apply({ liveness: 'tcp' }).liveness).toEqual({ ...d, kind: 'tcp' });
    expect(apply({ liveness: 'exec:cat /tmp/ok' }).liveness).toEqual({ ...d, kind: 'exec', command: ['cat', '/tmp/ok'] });
    expect(apply({ liveness: `exec:sh -c 'test -f "/tmp/a b"'` }).liveness?.command).toEqual(['sh', '-c', 'test -f "/tmp/a b"']);
  });

  it('applies the probe and restart settings', () => {
    const r = apply({
      liveness: 'http:/ok',
      livenessStatus: '200-204',
      livenessInterval: '2000',
      livenessTimeout: '500',
      livenessThreshold: '2',
      livenessDelay: '0',
      restartBackoff: '500',
      restartMaxBackoff: '60000',
      restartJitter: '0.1',
      restartReset: '120000',
      crashLoop: '3/60000',
    });
    expect(r).toEqual({
      restart: { initialBackoffMs: 500, maxBackoffMs: 60_000, jitter: 0.1, resetAfterMs: 120_000, crashLoopRestarts: 3, crashLoopWindowMs: 60_000 },
      liveness: { kind: 'http', path: '/ok', statusMin: 200, statusMax: 204, command: [], intervalMs: 2_000, timeoutMs: 500, failureThreshold: 2, initialDelayMs: 0 },
    });
    expect(apply({ liveness: 'http', livenessStatus: '204' }).liveness).toMatchObject({ statusMin: 204, statusMax: 204 });
  });

  it('on an existing probe: --liveness changes the target and keeps the timing, a setting alone changes only itself, --no-liveness removes it', () => {
    const current = apply({ liveness: 'http:/a', livenessStatus: '200-299', livenessInterval: '3000', livenessThreshold: '5', restartBackoff: '2000' });
    expect(apply({ liveness: 'http:/b' }, current).liveness).toEqual({ ...current.liveness, path: '/b' });
    expect(apply({ liveness: 'http' }, current).liveness).toEqual(current.liveness);
    expect(apply({ liveness: 'tcp' }, current).liveness).toMatchObject({ kind: 'tcp', intervalMs: 3_000, failureThreshold: 5, statusMin: 200, statusMax: 399 });
    expect(apply({ livenessDelay: '100' }, current)).toEqual({ ...current, liveness: { ...current.liveness, initialDelayMs: 100 } });
    expect(apply({ liveness: false }, current)).toEqual({ restart: current.restart });
    expect(apply({}, current)).toEqual(current);
  });

  it('refuses malformed settings with the rule that failed, naming the flag', () => {
    const cases: [LazarusFlags, string][] = [
      [{ liveness: 'udp' }, '--liveness: "udp" is not a probe'],
      [{ liveness: 'http:healthz' }, '--liveness: liveness path must start with / (got "healthz")'],
      [{ liveness: 'tcp:80' }, '--liveness: a tcp probe takes no target (got "80")'],
      [{ liveness: 'exec:' }, '--liveness: an exec probe needs a command'],
      [{ liveness: "exec:sh -c 'x" }, "--liveness: the command has an unclosed '"],
      [{ liveness: 'http', livenessInterval: 'soon' }, '--liveness-interval: "soon" is not a whole number of milliseconds'],
      [{ liveness: 'http', livenessInterval: '50' }, '--liveness-interval: liveness intervalMs must be a whole number from 100 to 3600000 (got 50)'],
      [{ liveness: 'http', livenessTimeout: '20000' }, '--liveness-timeout: liveness timeoutMs must not exceed intervalMs'],
      [{ liveness: 'http', livenessThreshold: '0' }, '--liveness-threshold: liveness failureThreshold must be a whole number from 1 to 100 (got 0)'],
      [{ liveness: 'http', livenessDelay: '-1' }, '--liveness-delay: "-1" is not a whole number of milliseconds'],
      [{ liveness: 'http', livenessStatus: '400-200' }, '--liveness-status: liveness status range 400-200 is empty'],
      [{ liveness: 'http', livenessStatus: '2xx' }, '--liveness-status: "2xx" is not a status range: write e.g. 200-399 or 204'],
      [{ liveness: 'http', livenessStatus: '600' }, '--liveness-status: liveness statusMin must be a whole number from 100 to 599 (got 600)'],
      [{ liveness: 'tcp', livenessStatus: '200' }, '--liveness-status applies to an HTTP probe, not a tcp probe'],
      [{ livenessInterval: '1000' }, '--liveness-interval needs a liveness probe: the app has none'],
      [{ liveness: false, livenessTimeout: '100' }, '--liveness-timeout cannot go with --no-liveness'],
      [{ restartBackoff: '1s' }, '--restart-backoff: "1s" is not a whole number of milliseconds'],
      [{ restartBackoff: '5000000' }, '--restart-backoff: restart initialBackoffMs must be a whole number from 0 to 3600000 (got 5000000)'],
      [{ restartMaxBackoff: '10' }, '--restart-max-backoff: restart maxBackoffMs must not be below initialBackoffMs'],
      [{ restartJitter: '1.5' }, '--restart-jitter: restart jitter must be from 0 to 1 (got 1.5)'],
      [{ restartJitter: 'lots' }, '--restart-jitter: "lots" is not a fraction'],
      [{ restartReset: '10' }, '--restart-reset: restart resetAfterMs must be a whole number from 1000 to 86400000 (got 10)'],
      [{ crashLoop: '5' }, '--crash-loop: "5" is not N/WINDOW_MS'],
      [{ crashLoop: '0/60000' }, '--crash-loop: restart crashLoopRestarts must be a whole number from 1 to 1000 (got 0)'],
      [{ crashLoop: '5/10' }, '--crash-loop: restart crashLoopWindowMs must be a whole number from 1000 to 86400000 (got 10)'],
    ];
    for (const [flags, message] of cases) {
      const r = refusal(flags);
      expect(r.message, JSON.stringify(flags)).toBe(message);
      expect(r.code).toBe('invalid_input');
      expect(r.hint).toContain('nothing was changed');
    }
  });

  it('splitWords keeps quoted blanks', () => {
    expect(splitWords(`  a "b c"  'd' e""f `)).toEqual(['a', 'b c', 'd', 'ef']);
    expect(splitWords('')).toEqual([]);
  });
});

describe('app update with Lazarus flags', () => {
  const current = AppSpec.parse({ name: 'web', node: 'n1', source: { kind: 'image', image: 'localhost/app:v1' }, liveness: { kind: 'tcp', intervalMs: 4_000 } });
  const flags = (f: Partial<AppUpdateFlags>): AppUpdateFlags => ({ domain: [], env: [], unsetEnv: [], ...f });

  it('a Lazarus flag alone is an update; the rest of the spec stays', () => {
    const before = structuredClone(current);
    const next = applyUpdateFlags(current, flags({ liveness: 'http:/up', crashLoop: '3/60000' }));
    expect(next).toEqual({ ...current, liveness: { ...current.liveness, kind: 'http', path: '/up' }, restart: { ...current.restart, crashLoopRestarts: 3, crashLoopWindowMs: 60_000 } });
    expect(applyUpdateFlags(current, flags({ liveness: false }))).toEqual({ ...current, liveness: undefined });
    expect('liveness' in applyUpdateFlags(current, flags({ liveness: false }))).toBe(false);
    expect(current).toEqual(before);
  });

  it('refuses a malformed setting before anything else happens', () => {
    expect(() => applyUpdateFlags(current, flags({ port: 9000, livenessTimeout: '9000' }))).toThrow('--liveness-timeout: liveness timeoutMs must not exceed intervalMs');
  });
});

describe('app info', () => {
  it('shows the restart policy and the liveness probe with every default', () => {
    const spec = AppSpec.parse({ name: 'web', node: 'n1', source: { kind: 'image', image: 'localhost/app:v1' } });
    const summary = { id: 'a', name: 'web', node: 'n1', spec, createdAt: 0, updatedAt: 0, currentRelease: null };
    const text = formatAppInfo(summary);
    expect(text).toMatch(/^liveness +none \(a dead container is still restarted\)$/m);
    expect(text).toMatch(
      /^restart +first at once, then 1000 ms doubling up to 300000 ms \(\+-20% jitter\), reset after 600000 ms running; crash loop at 5 restarts within 600000 ms$/m,
    );
    const probed = formatAppInfo({ ...summary, spec: AppSpec.parse({ ...spec, liveness: { kind: 'http' } }) });
    expect(probed).toMatch(/^liveness +HTTP GET \/health \(status 200-399\) every 10000 ms, timeout 2000 ms, restart after 3 failures in a row, initial delay 5000 ms$/m);
    expect(formatAppInfo({ ...summary, spec: AppSpec.parse({ ...spec, liveness: { kind: 'exec', command: ['cat', '/tmp/ok'] } }) })).toContain('exec cat /tmp/ok every');
  });
});

describe('the contract refuses malformed settings too, changing nothing', () => {
  const open: ControlPlane[] = [];
  afterEach(async () => {
    while (open.length) await open.pop()!.close();
  });

  it('apps.create and apps.update answer invalid_input with the rule; the store is unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-lazarus-'));
    const cp = await createControlPlane({ dataDir: dir, agentBundlePath: join(dir, 'none') });
    open.push(cp);
    new NodeStore(cp.db, new Vault(cp.db, Buffer.alloc(32, 1))).insert({
      id: 'n-0', name: 'n1', host: '10.0.0.1', port: 22, sshUser: 'deploy', hostKeyFingerprint: 'SHA256:x', hostKey: 'AAAA',
      auth: { kind: 'agent' }, agentPort: 7443, serviceMode: 'supervisor', agentVersion: '0.1.0', agentSha256: 'x',
      facts: null, usage: null, labels: {}, lastSeenAt: null, createdAt: Date.now(),
    });
    const cli = { actor: 'admin', source: 'cli' as const };
    const spec: AppSpecInput = { name: 'web', node: 'n1', source: { kind: 'image', image: 'localhost/app:v1' } };
    await expect(cp.router.call('apps.create', { spec: { ...spec, restart: { jitter: 3 } } }, cli)).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('restart jitter must be from 0 to 1 (got 3)'),
    });
    expect(await cp.router.invoke('apps.list', {}, cli)).toEqual([]);

    await cp.router.invoke('apps.create', { spec: { ...spec, liveness: { kind: 'tcp' } } }, cli);
    const before = await cp.router.invoke('apps.get', { name: 'web' }, cli);
    await expect(cp.router.call('apps.update', { spec: { ...spec, liveness: { kind: 'exec', command: [] } } }, cli)).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('an exec liveness probe needs a command'),
    });
    await expect(cp.router.call('apps.update', { spec: { ...spec, liveness: { kind: 'http', intervalMs: 1_000, timeoutMs: 5_000 } } }, cli)).rejects.toMatchObject({
      message: expect.stringContaining('liveness timeoutMs must not exceed intervalMs'),
    });
    expect(await cp.router.invoke('apps.get', { name: 'web' }, cli)).toEqual(before);
  });
});

describe('the podploy CLI', () => {
  const ROOT = join(import.meta.dirname, '..', '..');
  const podploy = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      // No control plane at this URL: a refusal must come before any call.
      execFile(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'src-main', 'cli', 'main.ts'), '--url', 'http://127.0.0.1:9', '--token', 'x', ...args], { cwd: ROOT }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  it('app create refuses a malformed probe with error: and hint:, exit 1, before calling anything', async () => {
    const r = await podploy('app', 'create', 'web', '--node', 'n1', '--image', 'localhost/app:v1', '--liveness', 'http', '--liveness-timeout', '60000');
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'error: --liveness-timeout: liveness timeoutMs must not exceed intervalMs\nhint: nothing was changed\n' });
    const s = await podploy('app', 'create', 'web', '--node', 'n1', '--image', 'localhost/app:v1', '--crash-loop', 'often');
    expect(s.code).toBe(1);
    expect(s.stderr).toBe('error: --crash-loop: "often" is not N/WINDOW_MS\nhint: write e.g. 5/600000: 5 restarts within 10 minutes; nothing was changed\n');
    const t = await podploy('app', 'create', 'web', '--node', 'n1', '--image', 'localhost/app:v1', '--no-liveness', '--liveness-delay', '10');
    expect(t).toMatchObject({ code: 1, stderr: 'error: --liveness-delay cannot go with --no-liveness\nhint: drop one of them; nothing was changed\n' });
  }, 30_000);
});
