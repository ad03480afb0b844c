// The node's backups against a REAL rootful Podman REST socket started here (the busybox test
// app image), local destinations in a temp dir, real signed commands through the real
// CommandExecutor. Schedules are driven by croner with a per-second schedule (allowed through
// the test-only option, never from the wire); retention runs on a fake clock.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupPolicy, BackupProgress, SignedCommand } from '../../proto/gen/podploy/agent/v1/agent';
import type { NodeEventInput } from '../../proto/node-events';
import { sealWithNodeKey, openWithNodeKey } from '../../proto/node-seal';
import { signCommand, type UnsignedCommand } from '../../proto/signing';
import { BACKUP_DATA_OBJECT } from '../../proto/backup-defaults';
import { CommandExecutor, InvalidCommand } from '../commands';
import { fileLogger } from '../logger';
import { PodmanClient } from '../podman/client';
import { createContainer, inspectContainer, podployLabels, removeContainer, startContainer } from '../podman/containers';
import { runExec } from '../podman/exec';
import { startPodmanService, stopPodmanService } from '../podman/podman-test-service';
import { removeVolume } from '../podman/volumes';
import { LabelsStore } from '../state/labels-store';
import { NonceFileStore } from '../state/nonce-file-store';
import { handleBackupCall } from './backup-rpc';
import { NodeBackups, type NodeBackupsDeps } from './node-backups';
import { BACKUP_POLICIES_FILE } from './policy-store';
import { AGENT_STOPPED_DURING_RUN } from './run-backup';
import { BACKUP_RUNS_FILE } from './run-index';
import { removeVolumeHelper, startVolumeHelper } from './sources/volume-helper';

const NODE = 'node-bk-1';
const TEST_APP = 'localhost/podploy-test-app:latest';
const run = randomBytes(4).toString('hex');
const APP = `ppbk-${run}`;
const socket = `/tmp/pp-podman-bk-${run}.sock`;
const podman = new PodmanClient(socket);
const DATA = `${APP}-data`;
const WEB = `${APP}-web`;
const volumes = [DATA];
const work = mkdtempSync(join(tmpdir(), 'podploy-node-backups-'));
const signing = generateKeyPairSync('ed25519');
const nodeKey = randomBytes(32);
const backupKey = randomBytes(32);
const liveRelease = { slot: 'a' as const, release: 'r1', container: WEB, image: TEST_APP, imageId: '', digest: '', stopGraceMs: 1000, since: new Date().toISOString() };
let service: ChildProcess | undefined;

const MANIFEST = `cd /data && find . | sort | while IFS= read -r f; do
  if [ -L "$f" ]; then echo "L $f -> $(readlink "$f")"; elif [ -d "$f" ]; then echo "D $f $(stat -c '%a %u:%g' "$f")";
  else echo "F $f $(stat -c '%a %u:%g %s' "$f") $(sha256sum < "$f" | cut -d' ' -f1)"; fi; done`;
async function inHelper(volume: string, script: string, readOnly = true): Promise<string> {
  const helper = await startVolumeHelper(podman, { image: TEST_APP, volume, readOnly });
  try {
    const r = await runExec(podman, helper, ['sh', '-c', script], { user: '0', timeoutMs: 120_000, maxOutputBytes: 1024 * 1024 });
    if (r.exitCode !== 0) throw new Error(`helper script failed (${r.exitCode}): ${r.stderr}`);
    return r.stdout;
  } finally {
    await removeVolumeHelper(podman, helper);
  }
}

beforeAll(async () => {
  service = await startPodmanService(socket);
  await createContainer(podman, { name: WEB, image: TEST_APP, labels: podployLabels({ app: APP, release: 'r1', slot: 'a' }), volumes: [{ name: DATA, destination: '/data' }], stopGraceSeconds: 1 });
  await startContainer(podman, WEB);
  await inHelper(DATA, `set -e; cd /data; printf 'hello\\n' > a.txt; mkdir -p d/e; printf 'deep\\n' > d/e/f; chown 1234:5678 d/e/f; ln -s d/e/f link; head -c 40000000 /dev/urandom > big.bin`, false);
}, 180_000);

afterAll(async () => {
  await stopPodmanService(service, socket, {
    app: APP,
    beforeStop: async (p) => {
      await removeContainer(p, WEB, { force: true, ignoreMissing: true }).catch(() => undefined);
      for (const v of volumes) await removeVolume(p, v, { force: true, ignoreMissing: true }).catch(() => undefined);
    },
  });
  rmSync(work, { recursive: true, force: true });
}, 60_000);

let dirs = 0;
interface Agent {
  backups: NodeBackups;
  commands: CommandExecutor;
  events: NodeEventInput[];
  stateDir: string;
  logLines(): Record<string, unknown>[];
}
function agent(over: Partial<NodeBackupsDeps> & { stateDir?: string } = {}): Agent {
  const stateDir = over.stateDir ?? join(work, `state-${dirs++}`);
  const log = fileLogger(stateDir, 'debug');
  const events: NodeEventInput[] = [];
  const backups = new NodeBackups({
    nodeId: NODE,
    stateDir,
    commandKey: signing.publicKey,
    podman,
    apps: { live: (app) => (app === APP ? liveRelease : undefined), gateOpen: () => false },
    openSealed: (sealed) => openWithNodeKey(nodeKey, NODE, sealed),
    events: { emit: (e) => events.push(e) },
    log,
    allowFrequentSchedules: true,
    ...over,
  });
  const commands = new CommandExecutor({ nodeId: NODE, commandKey: signing.publicKey, nonces: new NonceFileStore(stateDir), labels: new LabelsStore(stateDir), backups, log });
  return { backups, commands, events, stateDir, logLines: () => readFileSync(join(stateDir, 'agent.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}
const seal = (bytes: Uint8Array) => Buffer.from(sealWithNodeKey(nodeKey, NODE, bytes));
function localDestination(path: string, id = 'disk') {
  return { id, name: id, kind: 'local', configJson: JSON.stringify({ path }), sealedCredentials: Buffer.alloc(0) };
}
function policy(over: Partial<BackupPolicy> = {}): BackupPolicy {
  return {
    id: `pol-${randomBytes(3).toString('hex')}`,
    name: 'data-nightly',
    app: APP,
    source: { kind: 'volume', volume: DATA, consistency: 'live', database: '', user: '', path: '', passwordSecret: '' },
    schedules: ['0 3 * * *'],
    timezone: 'UTC',
    destinations: [localDestination(join(work, `dest-${dirs++}`))],
    retention: { last: 3, daily: 7, weekly: 4, monthly: 6 },
    retryAttempts: 0,
    retryDelayMs: 1000,
    enabled: true,
    ...over,
  };
}
function sign(command: Partial<UnsignedCommand>, now?: number): SignedCommand {
  return signCommand({ nodeId: NODE, actor: 'alice', ...command }, signing.privateKey, now ? { now } : {});
}
function setPolicies(a: Agent, policies: BackupPolicy[], now?: number) {
  return a.commands.execute(sign({ setBackupPolicies: { policies, sealedBackupKey: seal(backupKey) } }, now));
}
async function until<T>(what: string, probe: () => T | undefined | false, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const filesUnder = (path: string) => (existsSync(path) ? readdirSync(path, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name) : []);

describe('policies', () => {
  it('refuses an invalid policy set naming the policy and the field; nothing changes', async () => {
    const a = agent();
    await setPolicies(a, [policy({ name: 'good' })]);
    const bad = [
      policy({ name: 'cronbad', schedules: ['61 * * * *'] }),
      policy({ name: 'keepsnothing', retention: { last: 0, daily: 0, weekly: 0, monthly: 0 } }),
      policy({ name: 'nodest', destinations: [localDestination('relative/path', 'rel')] }),
    ];
    const err = await setPolicies(a, bad).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(InvalidCommand);
    expect(err.message).toMatch(/policy "cronbad": schedules: schedule "61 \* \* \* \*" is not a valid cron expression/);
    expect(err.message).toMatch(/policy "keepsnothing": retention: retention keeps nothing/);
    expect(err.message).toMatch(/policy "nodest": destination "rel": invalid local backup destination: "path" must be absolute/);
    expect(a.backups.policies().map((p) => p.name)).toEqual(['good']);
  });

  it('a frequent schedule is refused from the wire without the test-only option', async () => {
    const a = agent({ allowFrequentSchedules: false });
    await expect(setPolicies(a, [policy({ schedules: ['* * * * *'] })])).rejects.toThrow(/fires more often than every 5 minutes/);
  });

  it('refuses credentials in config_json and never echoes their value', async () => {
    const a = agent();
    const s3 = { id: 's3', name: 's3', kind: 's3', configJson: JSON.stringify({ bucket: 'b', accessKeyId: 'AK', secretAccessKey: 'TOPSECRET' }), sealedCredentials: Buffer.alloc(0) };
    const err = await setPolicies(a, [policy({ destinations: [s3] })]).catch((e: unknown) => e as Error);
    expect(err.message).toMatch(/carries the secret "secretAccessKey" in the clear/);
    expect(err.message).not.toContain('TOPSECRET');
  });

  it('survive a restart; a tampered state file is ignored and logged', async () => {
    const a = agent();
    const p = policy({ name: 'kept' });
    await setPolicies(a, [p]);
    const again = agent({ stateDir: a.stateDir });
    expect(again.backups.policies().map((x) => x.id)).toEqual([p.id]);
    const file = join(a.stateDir, BACKUP_POLICIES_FILE);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { payload: string };
    const payload = Buffer.from(stored.payload, 'base64');
    payload[payload.length - 5] ^= 1;
    writeFileSync(file, JSON.stringify({ ...stored, payload: payload.toString('base64') }));
    const tampered = agent({ stateDir: a.stateDir });
    expect(tampered.backups.policies()).toEqual([]);
    expect(tampered.logLines().find((l) => l.event === 'backup_policies_ignored')?.reason).toMatch(/signature check failed/);
  });
});

describe('runs', () => {
  it('a per-second schedule runs the policy; the volume restores into a new volume byte for byte', async () => {
    const a = agent();
    const p = policy({ schedules: ['*/1 * * * * *'] });
    await setPolicies(a, [p]);
    const done = await until('a scheduled run', () => a.backups.index.list(p.id).find((r) => r.status === 'ok'));
    a.backups.stop();
    expect(done).toMatchObject({ trigger: 'schedule', attempt: 1, app: APP, sourceKind: 'volume' });
    expect(a.events.filter((e) => e.kind === 'backup.started').length).toBeGreaterThanOrEqual(1);
    const doneEvent = a.events.find((e) => e.kind === 'backup.done' && e.data?.runId === done.id)!;
    expect(doneEvent.data).toMatchObject({ runId: done.id, policyId: p.id, trigger: 'schedule', attempt: 1, sha256: done.plainSha256, error: null });

    const copy = `${APP}-copy`;
    volumes.push(copy);
    const progress: BackupProgress[] = [];
    const final = await a.backups.restore({ policy: p, runId: done.id, destinationId: '', restoreId: 'rs-1', mode: 'new', targetName: copy, sealedBackupKey: Buffer.alloc(0), targetApp: '' }, (m) => progress.push(m));
    expect(final).toMatchObject({ final: true, ok: true });
    expect(await inHelper(copy, MANIFEST)).toBe(await inHelper(DATA, MANIFEST));
    expect(a.events.find((e) => e.kind === 'restore.done')?.data).toMatchObject({ runId: done.id, target: copy });
  }, 120_000);

  it('pause mode pauses the app for the copy and resumes it', async () => {
    const a = agent();
    const p = policy({ source: { kind: 'volume', volume: DATA, consistency: 'pause', database: '', user: '', path: '', passwordSecret: '' } });
    await setPolicies(a, [p]);
    const since = Math.floor(Date.now() / 1000) - 1;
    const final = await a.backups.runNow({ policyId: p.id, runId: 'run-pause' });
    expect(final).toMatchObject({ final: true, ok: true });
    expect((await inspectContainer(podman, WEB)).state).toBe('running');
    const seen = execFileSync('podman', ['--url', `unix://${socket}`, 'events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', `container=${WEB}`, '--format', '{{.Status}}'], { encoding: 'utf8' });
    expect(seen.split('\n').filter((l) => l === 'pause' || l === 'unpause')).toEqual(['pause', 'unpause']);
  }, 60_000);

  it('a failing destination: the run fails cleanly, is retried, and the retry succeeds', async () => {
    const a = agent();
    const blocked = join(work, `blocked-${run}`);
    writeFileSync(blocked, 'a file where the folder should be');
    // Fires once a minute, two seconds from now: the retry comes long before the next tick.
    const second = (new Date().getUTCSeconds() + 2) % 60;
    const p = policy({ schedules: [`${second} * * * * *`], retryAttempts: 2, retryDelayMs: 1500, destinations: [localDestination(blocked)] });
    await setPolicies(a, [p]);
    const failed = await until('a failed run', () => a.backups.index.list(p.id).find((r) => r.status === 'failed'));
    rmSync(blocked);
    const retried = await until('a retry', () => a.backups.index.list(p.id).find((r) => r.trigger === 'retry' && r.status !== 'running'));
    a.backups.stop();
    expect(failed).toMatchObject({ trigger: 'schedule', attempt: 1 });
    expect(failed.error).toMatch(/local folder .* is not usable/);
    expect(retried).toMatchObject({ trigger: 'retry', attempt: 2, status: 'ok' });
    expect(a.events.find((e) => e.kind === 'backup.failed')?.data).toMatchObject({ runId: failed.id, attempt: 1 });
    expect((await inspectContainer(podman, WEB)).state).toBe('running');
  }, 60_000);

  it('retention prunes on a fake clock: exactly the runs no rule keeps are removed from the destination', async () => {
    let now = Date.UTC(2026, 0, 1, 3, 0, 0);
    const a = agent({ now: () => now });
    const dest = join(work, `retention-${run}`);
    const p = policy({ retention: { last: 2, daily: 3, weekly: 0, monthly: 0 }, destinations: [localDestination(dest)] });
    await setPolicies(a, [p], Date.now());
    const ids: string[] = [];
    for (let day = 0; day < 6; day++) {
      for (const hour of [3, 15]) {
        now = Date.UTC(2026, 0, 1 + day, hour, 0, 0);
        const final = await a.backups.runNow({ policyId: p.id, runId: `run-d${day}-h${hour}` });
        expect(final.ok).toBe(true);
        ids.push(`run-d${day}-h${hour}`);
      }
    }
    // Jan 6 15:00: last 2 = d5-h15, d5-h3; daily 3 = newest of Jan 6, 5, 4 = d5-h15, d4-h15, d3-h15.
    const kept = a.backups.index.list(p.id).filter((r) => r.status === 'ok').map((r) => r.id).sort();
    expect(kept).toEqual(['run-d3-h15', 'run-d4-h15', 'run-d5-h15', 'run-d5-h3'].sort());
    expect(readdirSync(join(dest, APP, p.id)).sort()).toEqual(kept);
    expect(a.events.filter((e) => e.kind === 'backup.pruned').map((e) => e.data?.runId).sort()).toEqual(ids.filter((i) => !kept.includes(i)).sort());
  }, 120_000);

  it('runs a stopped agent left "running" become failed at the next start, and their folders are removed', async () => {
    const a = agent();
    const dest = join(work, `killed-${run}`);
    const p = policy({ destinations: [localDestination(dest)] });
    await setPolicies(a, [p]);
    const ok = await a.backups.runNow({ policyId: p.id, runId: 'run-complete' });
    expect(ok.ok).toBe(true);
    // What a killed agent leaves: its record still "running" and a data object in the run's folder.
    const runs = JSON.parse(readFileSync(join(a.stateDir, BACKUP_RUNS_FILE), 'utf8')) as Record<string, unknown>[];
    const folder = `${APP}/${p.id}/run-cut`;
    runs.push({ ...runs[0], id: 'run-cut', status: 'running', finishedAtMs: 0, folder, copies: [{ destinationId: 'disk', key: folder, ok: false, error: '' }] });
    writeFileSync(join(a.stateDir, BACKUP_RUNS_FILE), JSON.stringify(runs));
    execFileSync('mkdir', ['-p', join(dest, folder)]);
    writeFileSync(join(dest, folder, BACKUP_DATA_OBJECT), randomBytes(1000));

    const restarted = agent({ stateDir: a.stateDir });
    await restarted.backups.start();
    restarted.backups.stop();
    const cut = restarted.backups.index.get('run-cut')!;
    expect(cut.status).toBe('failed');
    expect(cut.error).toBe(`${AGENT_STOPPED_DURING_RUN}; what it had written was removed`);
    expect(existsSync(join(dest, folder))).toBe(false);
    expect(filesUnder(join(dest, APP, p.id, 'run-complete'))).toHaveLength(2);
    expect(restarted.events.find((e) => e.kind === 'backup.failed')?.data).toMatchObject({ runId: 'run-cut' });
  }, 60_000);

  it('a restore of a damaged run is refused with the integrity error and leaves no new volume', async () => {
    const a = agent();
    const dest = join(work, `damaged-${run}`);
    const p = policy({ destinations: [localDestination(dest)] });
    await setPolicies(a, [p]);
    expect((await a.backups.runNow({ policyId: p.id, runId: 'run-dmg' })).ok).toBe(true);
    const data = join(dest, APP, p.id, 'run-dmg', BACKUP_DATA_OBJECT);
    const bytes = readFileSync(data);
    bytes[bytes.length - 100_000] ^= 1;
    writeFileSync(data, bytes);
    const target = `${APP}-dmg`;
    volumes.push(target);
    const final = await a.backups.restore({ policy: p, runId: 'run-dmg', destinationId: 'disk', restoreId: 'rs-dmg', mode: 'new', targetName: target, sealedBackupKey: Buffer.alloc(0), targetApp: '' });
    expect(final).toMatchObject({ final: true, ok: false });
    expect(final.error).toMatch(/was altered .*refused/);
    expect(execFileSync('podman', ['--url', `unix://${socket}`, 'volume', 'ls', '--format', '{{.Name}}'], { encoding: 'utf8' }).split('\n')).not.toContain(target);
    expect(a.events.find((e) => e.kind === 'restore.failed')).toBeDefined();
  }, 60_000);

  it('the Backup call refuses run_backup through Execute, and a busy policy through Backup', async () => {
    const a = agent();
    const p = policy();
    await setPolicies(a, [p]);
    await expect(a.commands.execute(sign({ runBackup: { policyId: p.id, runId: 'x' } }))).rejects.toThrow(/goes through the Backup RPC/);
    const written: BackupProgress[] = [];
    const call = { verify: (s: SignedCommand) => a.commands.verify(s), write: (m: BackupProgress) => written.push(m) };
    const first = handleBackupCall(sign({ runBackup: { policyId: p.id, runId: 'run-a' } }), call, a.backups, NODE, fileLogger(a.stateDir));
    const second = await handleBackupCall(sign({ runBackup: { policyId: p.id, runId: 'run-b' } }), call, a.backups, NODE, fileLogger(a.stateDir));
    expect(second).toMatchObject({ final: true, ok: false, phase: 'refused' });
    expect(second.error).toMatch(/is running already \(run run-a\)/);
    expect(await first).toMatchObject({ final: true, ok: true });
    expect(written.filter((m) => m.final)).toHaveLength(2);
  }, 60_000);
});

describe('test_backup_destination', () => {
  it('says ok, or which step failed', async () => {
    const a = agent();
    const good = await a.commands.execute(sign({ testBackupDestination: { destination: localDestination(join(work, `probe-${run}`)) } }));
    expect(good).toMatchObject({ ok: true });
    const file = join(work, `probe-file-${run}`);
    writeFileSync(file, 'x');
    const bad = await a.commands.execute(sign({ testBackupDestination: { destination: localDestination(file) } }));
    expect(bad.ok).toBe(false);
    expect(bad.message).toMatch(/failed at step "reach": local folder .* is not usable/);
  });
});
