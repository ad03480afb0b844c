import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BackupRunSummary, DestinationSummary } from '../api/contract';
import { createControlPlane, type ControlPlane } from '../control-plane';
import { controlPlaneWithApp } from '../events/events-test-support';
import { startHttpServer } from '../server/http-server';
import { destinationInputFromFlags, policyInputFromFlags, restoreInputFromFlags } from './backup-commands';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const MAIN = join(ROOT, 'src-main', 'cli', 'main.ts');
const MASTER_B64 = Buffer.alloc(32, 1).toString('base64');
const cli = { actor: 'admin', source: 'cli' as const };

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

describe('podploy backup flags', () => {
  it('build the policy input, refusing a bad cron with croner\'s reason', () => {
    expect(policyInputFromFlags('web-data', { app: 'web', volume: 'data', pause: true, to: ['disk', 'offsite'], schedule: ['0 2 * * *'], timezone: 'Europe/Paris', keepLast: '5', keepMonthly: '12', retries: '0' })).toEqual({
      name: 'web-data', app: 'web', source: { kind: 'volume', volume: 'data', consistency: 'pause' }, destinations: ['disk', 'offsite'], schedules: ['0 2 * * *'], timezone: 'Europe/Paris', retention: { last: 5, monthly: 12 }, retryAttempts: 0,
    });
    expect(policyInputFromFlags('db', { app: 'web', postgres: 'app', dbUser: 'app', passwordSecret: 'PGPASSWORD', to: ['disk'], disabled: true })).toEqual({ name: 'db', app: 'web', source: { kind: 'postgres', database: 'app', user: 'app', passwordSecret: 'PGPASSWORD' }, destinations: ['disk'], enabled: false });
    expect(policyInputFromFlags('state', { controlPlane: true, to: ['disk'] })).toEqual({ name: 'state', source: { kind: 'control-plane' }, destinations: ['disk'] });
    expect(() => policyInputFromFlags('x', { app: 'web', volume: 'v', sqlite: '/a.db', to: ['d'] })).toThrow('give exactly one source');
    expect(() => policyInputFromFlags('x', { app: 'web', volume: 'v', to: ['d'], schedule: ['0 3 * *'] })).toThrow('schedule "0 3 * *" is not a valid cron expression');
    expect(() => policyInputFromFlags('x', { app: 'web', volume: 'v', to: ['d'], keepLast: 'three' })).toThrow("--keep-last 'three' is not a whole number");
    expect(() => policyInputFromFlags('x', { controlPlane: true, app: 'web', to: ['d'] })).toThrow('leave out --app');
  });

  it('build destinations (the secret from standard input) and restores', () => {
    expect(destinationInputFromFlags('s3', 'off', { bucket: 'b', accessKeyId: 'AK', endpoint: 'http://minio:9000', forcePathStyle: true }, 'SECRET\n')).toEqual({ kind: 's3', name: 'off', bucket: 'b', accessKeyId: 'AK', secretAccessKey: 'SECRET', endpoint: 'http://minio:9000', forcePathStyle: true });
    expect(destinationInputFromFlags('sftp', 'box', { host: 'h', user: 'u', folder: 'f', fingerprint: 'SHA256:x' }, 'pw\n')).toMatchObject({ password: 'pw' });
    expect(() => destinationInputFromFlags('local', 'd', {})).toThrow('a local destination needs --path DIR');
    expect(() => destinationInputFromFlags('nfs', 'd', {})).toThrow("unknown destination kind 'nfs'");
    expect(restoreInputFromFlags('abc', { toVolume: 'copy', from: 'disk' })).toEqual({ run: 'abc', mode: 'new', target: 'copy', destination: 'disk' });
    expect(restoreInputFromFlags('abc', { over: true, yes: true, into: 'api' })).toEqual({ run: 'abc', mode: 'over', into: 'api', confirm: true });
    expect(() => restoreInputFromFlags('abc', { yes: true })).toThrow('--yes confirms --over');
  });
});

describe('podploy backup and podploy state restore against a real control plane', () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(TSX, [MAIN, ...args], { cwd: ROOT, env: { ...process.env, ...env } }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });

  it("backs up the control plane's state to a local folder and restores it into a fresh data folder", async () => {
    const cp = await controlPlaneWithApp();
    const http = await startHttpServer(cp, '127.0.0.1:0');
    cleanup.push(async () => {
      await http.close();
      await cp.close();
    });
    await cp.router.invoke('secrets.set', { app: 'web', values: { API_KEY: 'k-123' } }, cli);
    const api = (...args: string[]) => run(['--url', http.url, '--token', cp.firstAdminToken!, ...args]);
    const folder = mkdtempSync(join(tmpdir(), 'pp-cli-backups-'));

    expect(await api('backup', 'destination', 'set', 'local', 'disk', '--path', folder)).toEqual({ code: 0, stdout: `destination disk: local folder ${folder}\n`, stderr: '' });
    const dests = JSON.parse((await api('backup', 'destination', 'list', '--json')).stdout) as DestinationSummary[];
    expect(dests.map((d) => [d.name, d.kind, d.secrets])).toEqual([['disk', 'local', []]]);

    const bad = await api('backup', 'policy', 'set', 'state', '--control-plane', '--to', 'disk', '--schedule', '61 * * * *');
    expect(bad).toEqual({ code: 2, stdout: '', stderr: 'error: schedule "61 * * * *" is not a valid cron expression: Invalid value for minute: 61\nhint: a schedule is a cron expression such as "0 3 * * *" (daily at 03:00) in --timezone\n' });
    const missing = await api('backup', 'policy', 'set', 'state', '--control-plane', '--to', 'nas');
    expect(missing).toMatchObject({ code: 1, stderr: "error: backup policy 'state' was not saved: no backup destination named 'nas'; add it first with `podploy backup destination set`\nhint: fix what is named and set the policy again; nothing was changed\n" });

    const set = await api('backup', 'policy', 'set', 'state', '--control-plane', '--to', 'disk', '--keep-last', '5');
    expect(set).toMatchObject({ code: 0, stdout: expect.stringMatching(/^policy state: PodPloy state to disk; next runs \d{4}-/) });
    const done = await api('backup', 'run', 'state');
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/^run [0-9a-f]{8} ok: .* KiB \(.* KiB sealed\) to disk\n$/);
    expect(done.stderr).toMatch(/^reading: copying the control plane database\n/);
    const runs = JSON.parse((await api('backup', 'runs', '--json')).stdout) as BackupRunSummary[];
    expect(runs.map((r) => [r.policy, r.status, r.trigger, r.node])).toEqual([['state', 'ok', 'manual', null]]);
    expect((await api('backup', 'runs')).stdout).toContain(`${runs[0].id.replace(/-/g, '').slice(0, 8)}  `);

    const destFile = join(mkdtempSync(join(tmpdir(), 'pp-cli-destfile-')), 'dest.json');
    writeFileSync(destFile, JSON.stringify({ kind: 'local', path: folder }));
    const fresh = mkdtempSync(join(tmpdir(), 'pp-cli-fresh-'));
    const noKey = await run(['state', 'restore', '--destination', destFile, '--latest', '--data', fresh], { PODPLOY_MASTER_KEY: '' });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain(`error: no master key for ${fresh}`);
    expect((await run(['state', 'restore', '--destination', destFile, '--data', fresh])).code).toBe(2);
    const restored = await run(['state', 'restore', '--destination', destFile, '--latest', '--data', fresh], { PODPLOY_MASTER_KEY: MASTER_B64 });
    expect(restored).toMatchObject({ code: 0, stderr: '' });
    expect(restored.stdout).toContain(`restored run ${runs[0].id.replace(/-/g, '').slice(0, 8)} of policy state`);
    const again = await run(['state', 'restore', '--destination', destFile, '--run', runs[0].id, '--data', fresh], { PODPLOY_MASTER_KEY: MASTER_B64 });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already holds');

    const back: ControlPlane = await createControlPlane({ dataDir: fresh, masterKey: Buffer.alloc(32, 1), agentBundlePath: join(fresh, 'none') });
    cleanup.push(() => back.close());
    expect((await back.router.invoke('apps.list', {}, cli)).map((a) => [a.name, a.node])).toEqual([['web', 'n1']]);
    expect((await back.router.invoke('secrets.list', { app: 'web' }, cli)).secrets.map((s) => s.name)).toEqual(['API_KEY']);
    expect((await back.router.invoke('backups.policies.list', {}, cli)).map((p) => p.name)).toEqual(['state']);
  }, 120_000);
});
