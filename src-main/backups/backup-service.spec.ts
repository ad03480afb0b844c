// backups.* on a real control plane's database with the real AgentConnection (signed commands over
// mutual TLS). The endpoint here is a STAND-IN Agent service, for what a real agent answers only
// with a whole node behind it (a failing restore over a running app needs Lazarus, a deployer and
// a damaged backup; an offline node; runs recorded while the control plane was away): it verifies
// every command like an agent (signature, node, nonce, expiry), records what it obeyed and answers
// Backup/ListBackupRuns with scripted runs. The real agent is under test in backup-real-agent.spec.ts.
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentService, type BackupProgress, type BackupRun, type CommandEnvelope, type CommandResult, type ListBackupRunsRequest, type ListBackupRunsResponse, type SignedCommand } from '../../proto/gen/podploy/agent/v1/agent';
import { MemoryNonceStore, verifyCommand } from '../../proto/signing';
import { agentServerName, CONTROL_PLANE_CN } from '../../proto/tls';
import { TestCa } from '../../test/support/test-ca';
import { AgentConnection } from '../agents/agent-client';
import type { BackupPolicySummary, BackupRunSummary, NodeEventSummary } from '../api/contract';
import { Router, type CallContext, type Handlers } from '../api/router';
import { AuditLog } from '../audit';
import type { ControlPlane } from '../control-plane';
import { Vault } from '../crypto/vault';
import { apps, releases } from '../db/schema';
import { controlPlaneWithApp } from '../events/events-test-support';
import { NodeStore } from '../nodes/node-store';
import { ensureNodeSecretsKey, openForNode } from '../secrets/node-seal';
import type { SshSession } from '../ssh/ssh-session';
import { nodeBackupKey } from './backup-keys';
import { backupHandlers } from './backup-service';
import { Backups } from './backups';

const NODE_ID = 'n-0';
const MASTER = Buffer.alloc(32, 1);
const cli: CallContext = { actor: 'admin', source: 'cli' };
const signing = generateKeyPairSync('ed25519');
const nonces = new MemoryNonceStore();
const S3_SECRET = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYzEXAMPLEKEY';
const SFTP_PASSWORD = 'correct-horse-battery-staple-42';

// What the stand-in verified and obeyed, in order, and what it is told to answer.
const obeyed: CommandEnvelope[] = [];
const nodeRuns: BackupRun[] = [];
let restoreError = '';
let server: Server;
let conn: AgentConnection;

function verified(signed: SignedCommand): CommandEnvelope {
  const e = verifyCommand(signed, signing.publicKey, { nodeId: NODE_ID, nonces });
  obeyed.push(e);
  return e;
}

const wireRun = (over: Partial<BackupRun>): BackupRun => ({
  id: 'r', policyId: 'p', app: 'web', sourceKind: 'volume', trigger: 'schedule', attempt: 1, startedAtMs: 1_800_000_000_000, finishedAtMs: 1_800_000_001_000,
  status: 'ok', plainBytes: 1000, sealedBytes: 1100, plainSha256: 'a'.repeat(64), copies: [], error: '', ...over,
});

beforeAll(async () => {
  const ca = await TestCa.create();
  const agentCert = await ca.issue({ commonName: NODE_ID, dnsNames: [agentServerName(NODE_ID)], usage: 'server' });
  const client = await ca.issue({ commonName: CONTROL_PLANE_CN, usage: 'client' });
  server = new Server();
  server.addService(AgentService, {
    execute(call: ServerUnaryCall<SignedCommand, CommandResult>, callback: sendUnaryData<CommandResult>) {
      try {
        const e = verified(call.request);
        if (e.testBackupDestination) return callback(null, { ok: false, message: 'write failed: permission denied on /srv/backups', labels: {} });
        callback(null, { ok: true, message: 'done', labels: {} });
      } catch (err) {
        callback({ code: status.PERMISSION_DENIED, details: (err as Error).message, name: 'refused', message: (err as Error).message, metadata: undefined as never });
      }
    },
    backup(call: ServerWritableStream<SignedCommand, BackupProgress>) {
      const e = verified(call.request);
      const base = { sealedBytes: 0, message: '', final: false, ok: false, error: '', run: undefined };
      if (e.runBackup) {
        const { runId, policyId } = e.runBackup;
        call.write({ ...base, runId, phase: 'uploading', plainBytes: 500, sealedBytes: 550, message: 'to disk' });
        const pushed = obeyed.flatMap((x) => x.setBackupPolicies?.policies ?? []).findLast((x) => x.id === policyId)!;
        const copies = pushed.destinations.map((d) => ({ destinationId: d.id, key: `web/${policyId}/${runId}`, ok: true, error: '' }));
        const run = wireRun({ id: runId, policyId, trigger: 'manual', copies });
        call.write({ ...base, runId, phase: 'done', plainBytes: 1000, final: true, ok: true, run });
      } else {
        const r = e.restoreBackup!;
        call.write({ ...base, runId: r.restoreId, phase: 'restoring', plainBytes: 400 });
        if (restoreError) call.write({ ...base, runId: r.restoreId, phase: 'restoring', plainBytes: 400, final: true, error: restoreError });
        else call.write({ ...base, runId: r.restoreId, phase: 'restoring', plainBytes: 1000, final: true, ok: true });
      }
      call.end();
    },
    listBackupRuns(_call: ServerUnaryCall<ListBackupRunsRequest, ListBackupRunsResponse>, callback: sendUnaryData<ListBackupRunsResponse>) {
      callback(null, { runs: [...nodeRuns] });
    },
  } as never);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createSsl(Buffer.from(ca.certPem), [{ cert_chain: Buffer.from(agentCert.certPem), private_key: Buffer.from(agentCert.keyPem) }], true), (err, p) => (err ? reject(err) : resolve(p))),
  );
  // The SSH forward is not under test: the "forwarded" port is the endpoint itself.
  const ssh = { forwardLocal: async () => ({ port, server: createServer() }) } as unknown as SshSession;
  conn = await AgentConnection.open(ssh, NODE_ID, port, { caCertPem: ca.certPem, client, signingKey: signing.privateKey });
}, 30_000);

afterAll(() => {
  conn?.close();
  server?.forceShutdown();
});

const open: ControlPlane[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close();
  obeyed.length = 0;
  nodeRuns.length = 0;
  restoreError = '';
});

async function setup() {
  const cp = await controlPlaneWithApp();
  open.push(cp);
  await cp.router.invoke('apps.update', { spec: { name: 'web', node: 'n1', source: { kind: 'image', image: 'localhost/app:v1' }, volumes: [{ name: 'data', path: '/data' }] } }, cli);
  await cp.router.invoke('apps.create', { spec: { name: 'api', node: 'n1', source: { kind: 'image', image: 'localhost/api:v1' }, volumes: [{ name: 'data', path: '/var/lib/api' }] } }, cli);
  const vault = new Vault(cp.db, MASTER);
  const nodes = new NodeStore(cp.db, vault);
  ensureNodeSecretsKey(vault, NODE_ID);
  let online = true;
  const redeployed: { app: string; release: number }[] = [];
  const published = { runs: [] as BackupRunSummary[], policies: [] as BackupPolicySummary[] };
  const backups = new Backups({
    db: cp.db,
    vault,
    masterKey: MASTER,
    dataDir: '/nonexistent',
    nodes,
    fleet: { isOnline: () => online, link: () => ({ connection: async () => conn }) as never },
    audit: new AuditLog(cp.db),
    writer: 'test',
    publishRun: (r) => published.runs.push(r),
    publishPolicy: (p) => published.policies.push(p),
    log: () => undefined,
  });
  // The backup handlers under test; every other operation goes to the control plane's own router.
  const mine: Partial<Handlers> = {
    ...backupHandlers({
      backups,
      secretNames: () => ['PGPASSWORD'],
      redeploy: async (app, release) => {
        redeployed.push({ app, release });
        obeyed.push({ actor: `redeploy ${app} v${release}` } as CommandEnvelope);
      },
    }),
  };
  const router = new Router(new Proxy(mine, { get: (t, op: string) => t[op as keyof Handlers] ?? ((i: unknown, c: CallContext, p: (x: unknown) => void) => cp.router.call(op, i, c, p)) }) as Handlers);
  return { cp, router, backups, vault, redeployed, published, setOnline: (v: boolean) => (online = v) };
}

const s3 = { kind: 's3' as const, name: 'offsite', endpoint: 'http://127.0.0.1:9000', bucket: 'backups', forcePathStyle: true, accessKeyId: 'AKIAEXAMPLE', secretAccessKey: S3_SECRET };

describe('backup destinations', () => {
  it('seal their secrets: never returned, never in plain text in the database file', async () => {
    const { cp, router } = await setup();
    const set = await router.invoke('backups.destinations.set', s3, cli);
    expect(set).toMatchObject({ name: 'offsite', kind: 's3', secrets: ['secretAccessKey'], settings: { bucket: 'backups', accessKeyId: 'AKIAEXAMPLE', forcePathStyle: true }, where: 's3://backups/ at http://127.0.0.1:9000', createdBy: 'admin (cli)' });
    await router.invoke('backups.destinations.set', { kind: 'sftp', name: 'box', host: 'backup.example', user: 'pp', folder: 'podploy', hostKeyFingerprint: `SHA256:${'A'.repeat(43)}`, password: SFTP_PASSWORD }, cli);
    const listed = JSON.stringify(await router.invoke('backups.destinations.list', {}, cli));
    expect(listed).not.toContain(S3_SECRET);
    expect(listed).not.toContain(SFTP_PASSWORD);
    expect(listed).toContain('"secrets":["password"]');
    cp.db.$client.pragma('wal_checkpoint(TRUNCATE)');
    const file = readFileSync(cp.db.$client.name);
    expect(file.includes(Buffer.from('AKIAEXAMPLE'))).toBe(true); // the check can see plain text
    expect(file.includes(Buffer.from(S3_SECRET))).toBe(false);
    expect(file.includes(Buffer.from(SFTP_PASSWORD))).toBe(false);
    const audit = JSON.stringify(await router.invoke('audit.list', { limit: 5 }, cli));
    expect(audit).toContain('secrets secretAccessKey sealed');
    expect(audit).not.toContain(S3_SECRET);
  });

  it('refuse bad settings with what to fix, and cannot be removed while a policy uses them', async () => {
    const { router } = await setup();
    await expect(router.invoke('backups.destinations.set', { kind: 'local', name: 'disk', path: 'relative/dir' }, cli)).rejects.toMatchObject({ code: 'invalid_input', message: 'invalid local backup destination: "path" must be absolute' });
    await router.invoke('backups.destinations.set', { kind: 'local', name: 'disk', path: '/srv/backups' }, cli);
    await router.invoke('backups.policies.set', { name: 'web-data', app: 'web', source: { kind: 'volume', volume: 'data' }, destinations: ['disk'] }, cli);
    await expect(router.invoke('backups.destinations.remove', { name: 'disk' }, cli)).rejects.toMatchObject({ code: 'conflict', message: "destination 'disk' is used by policy 'web-data'; nothing was removed" });
    await router.invoke('backups.policies.remove', { name: 'web-data' }, cli);
    await expect(router.invoke('backups.destinations.remove', { name: 'disk' }, cli)).resolves.toEqual({ name: 'disk' });
  });

  it('are tested from the node that uses them (signed), and the failing step is reported', async () => {
    const { router } = await setup();
    await router.invoke('backups.destinations.set', s3, cli);
    await router.invoke('backups.policies.set', { name: 'web-data', app: 'web', source: { kind: 'volume', volume: 'data' }, destinations: ['offsite'] }, cli);
    obeyed.length = 0;
    const r = await router.invoke('backups.destinations.test', { name: 'offsite' }, cli);
    expect(r).toMatchObject({ ok: false, from: 'node n1', message: 'write failed: permission denied on /srv/backups' });
    expect(obeyed[0].testBackupDestination?.destination).toMatchObject({ name: 'offsite', kind: 's3' });
    expect(obeyed[0].testBackupDestination?.destination?.configJson).not.toContain(S3_SECRET);
  });
});

describe('backup policies', () => {
  it('are validated whole before anything changes, naming each thing to fix', async () => {
    const { router } = await setup();
    await router.invoke('backups.destinations.set', { kind: 'local', name: 'disk', path: '/srv/backups' }, cli);
    await expect(
      router.invoke('backups.policies.set', { name: 'bad', app: 'web', source: { kind: 'volume', volume: 'uploads' }, schedules: ['61 * * * *'], retention: { last: 0, daily: 0, weekly: 0, monthly: 0 }, destinations: ['disk', 'nas'] }, cli),
    ).rejects.toMatchObject({
      code: 'invalid_input',
      message:
        "backup policy 'bad' was not saved: app 'web' has no named volume 'uploads'; its volumes are 'data'; " +
        'schedule "61 * * * *" is not a valid cron expression: Invalid value for minute: 61; ' +
        'retention keeps nothing: set at least one of last, daily, weekly, monthly above 0; ' +
        "no backup destination named 'nas'; add it first with `podploy backup destination set`",
      hint: 'fix what is named and set the policy again; nothing was changed',
    });
    await expect(router.invoke('backups.policies.set', { name: 'bad', app: 'ghost', source: { kind: 'postgres', database: 'app' }, destinations: ['disk'] }, cli)).rejects.toMatchObject({ message: "backup policy 'bad' was not saved: no app named 'ghost' (list apps with `podploy app list`)" });
    await expect(router.invoke('backups.policies.set', { name: 'bad', app: 'web', source: { kind: 'postgres', database: 'app', passwordSecret: 'NOPE' }, destinations: ['disk'], schedules: ['*/1 * * * *'], timezone: 'Mars/Olympus' }, cli)).rejects.toMatchObject({
      message: expect.stringContaining("app 'web' has no secret 'NOPE' for the database password"),
    });
    expect(await router.invoke('backups.policies.list', {}, cli)).toEqual([]);
    expect(obeyed).toEqual([]);
  });

  it("are pushed as the node's whole set, signed, with credentials and the node's backup key sealed for it", async () => {
    const { router, vault, published } = await setup();
    await router.invoke('backups.destinations.set', s3, cli);
    const p = await router.invoke('backups.policies.set', { name: 'web-data', app: 'web', source: { kind: 'volume', volume: 'data', consistency: 'pause' }, schedules: ['30 2 * * *'], timezone: 'Europe/Paris', destinations: ['offsite'] }, cli);
    expect(p).toMatchObject({ node: 'n1', app: 'web', pushed: true, pushError: null, retention: { last: 3, daily: 7, weekly: 4, monthly: 6 }, retryAttempts: 2, retryDelayMs: 300_000 });
    expect(p.nextRuns).toHaveLength(3);
    await router.invoke('backups.policies.set', { name: 'web-db', app: 'web', source: { kind: 'postgres', database: 'app', user: 'app', passwordSecret: 'PGPASSWORD' }, destinations: ['offsite'] }, cli);

    const pushes = obeyed.filter((e) => e.setBackupPolicies);
    expect(pushes.map((e) => [e.nodeId, e.actor, e.setBackupPolicies!.policies.map((x) => x.name)])).toEqual([
      [NODE_ID, 'admin (cli)', ['web-data']],
      [NODE_ID, 'admin (cli)', ['web-data', 'web-db']],
    ]);
    const sent = pushes[1].setBackupPolicies!;
    expect(sent.policies[0]).toMatchObject({ id: p.id, app: 'web', source: { kind: 'volume', volume: 'data', consistency: 'pause' }, schedules: ['30 2 * * *'], timezone: 'Europe/Paris', retention: { last: 3, daily: 7, weekly: 4, monthly: 6 }, retryAttempts: 2, enabled: true });
    expect(sent.policies[1].source).toMatchObject({ kind: 'postgres', database: 'app', user: 'app', passwordSecret: 'PGPASSWORD' });
    const dest = sent.policies[0].destinations[0];
    expect(JSON.parse(dest.configJson)).toEqual({ kind: 's3', endpoint: 'http://127.0.0.1:9000', bucket: 'backups', forcePathStyle: true, accessKeyId: 'AKIAEXAMPLE' });
    expect(Buffer.from(dest.sealedCredentials).includes(Buffer.from(S3_SECRET))).toBe(false);
    expect(JSON.parse(Buffer.from(openForNode({ vault }, NODE_ID, dest.sealedCredentials)).toString())).toEqual({ secretAccessKey: S3_SECRET });
    expect(Buffer.from(openForNode({ vault }, NODE_ID, sent.sealedBackupKey))).toEqual(Buffer.from(nodeBackupKey(MASTER, NODE_ID)));
    expect(published.policies.map((x) => x.name)).toContain('web-data');

    await router.invoke('backups.policies.remove', { name: 'web-data' }, cli);
    expect(obeyed.at(-1)!.setBackupPolicies!.policies.map((x) => x.name)).toEqual(['web-db']);
    const audit = await router.invoke('audit.list', { limit: 3 }, cli);
    expect(audit.map((a) => [a.action, a.target, a.result])).toEqual([
      ['backup.policy.remove', 'web-data', 'ok'],
      ['backup.policy.set', 'web-db', 'ok'],
      ['backup.policy.set', 'web-data', 'ok'],
    ]);
  });

  it('are saved for an offline node (pushed=false with the reason) and pushed when its link comes up; its runs are read then', async () => {
    const { router, backups, setOnline } = await setup();
    await router.invoke('backups.destinations.set', { kind: 'local', name: 'disk', path: '/srv/backups' }, cli);
    setOnline(false);
    const p = await router.invoke('backups.policies.set', { name: 'web-data', app: 'web', source: { kind: 'volume', volume: 'data' }, destinations: ['disk'] }, cli);
    expect(p).toMatchObject({ pushed: false, pushError: "node 'n1' is offline; its policies are pushed when it comes back" });
    expect(obeyed).toEqual([]);
    const disk = backups.destinations.byName('disk')!;
    nodeRuns.push(wireRun({ id: 'run-2', policyId: p.id, startedAtMs: 1_800_000_100_000, finishedAtMs: 1_800_000_100_500, status: 'failed', error: 'destination unreachable', copies: [{ destinationId: disk.id, key: '', ok: false, error: 'ECONNREFUSED' }] }), wireRun({ id: 'run-1', policyId: p.id, copies: [{ destinationId: disk.id, key: `web/${p.id}/run-1`, ok: true, error: '' }] }));

    setOnline(true);
    await backups.onLinkUp(NODE_ID);
    expect(obeyed.map((e) => e.setBackupPolicies?.policies.map((x) => x.name))).toEqual([['web-data']]);
    expect((await router.invoke('backups.policies.list', {}, cli))[0]).toMatchObject({ pushed: true, pushError: null, lastRun: { id: 'run-2', status: 'failed', error: 'destination unreachable' } });
    expect(await router.invoke('backups.runs', { policy: 'web-data' }, cli)).toEqual([
      expect.objectContaining({ id: 'run-1', policy: 'web-data', node: 'n1', app: 'web', status: 'ok', copies: [{ destination: 'disk', ok: true, error: null }] }),
      expect.objectContaining({ id: 'run-2', status: 'failed', error: 'destination unreachable', copies: [{ destination: 'disk', ok: false, error: 'ECONNREFUSED' }] }),
    ].reverse());
    await backups.onLinkUp(NODE_ID);
    expect(obeyed.filter((e) => e.setBackupPolicies)).toHaveLength(1);
  });
});

describe('backup runs', () => {
  const event = (kind: string, data: NodeEventSummary['data'], atMs: number): NodeEventSummary => ({ id: `${kind}-${atMs}`, node: 'n1', seq: atMs, atMs, receivedAtMs: atMs, kind, severity: kind === 'backup.failed' ? 'error' : 'info', app: 'web', container: null, release: null, message: kind, data });

  it('are folded from backup.* events in any order, never moving backwards, and published', async () => {
    const { router, backups, published } = await setup();
    await router.invoke('backups.destinations.set', { kind: 'local', name: 'disk', path: '/srv/backups' }, cli);
    const p = await router.invoke('backups.policies.set', { name: 'web-data', app: 'web', source: { kind: 'volume', volume: 'data' }, destinations: ['disk'] }, cli);
    const disk = backups.destinations.byName('disk')!;
    const ids = { runId: 'run-a', policyId: p.id, trigger: 'schedule', attempt: 1 };
    const copies = JSON.stringify([{ destinationId: disk.id, key: `web/${p.id}/run-a`, ok: true, error: '' }]);
    backups.onEvent(event('backup.done', { ...ids, plainBytes: 2048, sealedBytes: 2100, durationMs: 1500, sha256: 'b'.repeat(64), copies, error: null }, 2_000_000));
    backups.onEvent(event('backup.started', ids, 1_998_500));
    backups.onEvent(event('backup.started', { ...ids, runId: 'run-b', trigger: 'retry', attempt: 2 }, 3_000_000));
    backups.onEvent(event('backup.failed', { ...ids, runId: 'run-b', trigger: 'retry', attempt: 2, durationMs: 10, error: 'sftp: host key mismatch' }, 3_000_010));
    backups.onEvent(event('container.died', { runId: 'x', policyId: p.id }, 1));
    const runs = await router.invoke('backups.runs', { app: 'web' }, cli);
    expect(runs.map((r) => [r.id, r.status, r.trigger, r.attempt, r.plainBytes, r.sha256, r.error, r.finishedAt])).toEqual([
      ['run-b', 'failed', 'retry', 2, 0, null, 'sftp: host key mismatch', 3_000_010],
      ['run-a', 'ok', 'schedule', 1, 2048, 'b'.repeat(64), null, 2_000_000],
    ]);
    expect(runs[1].copies).toEqual([{ destination: 'disk', ok: true, error: null }]);
    expect(published.runs.map((r) => `${r.id}:${r.status}`)).toEqual(['run-a:ok', 'run-b:running', 'run-b:failed']);
    backups.onEvent(event('backup.pruned', { runId: 'run-a', policyId: p.id, reason: 'not kept' }, 4_000_000));
    expect((await router.invoke('backups.runs', { policy: 'web-data' }, cli)).find((r) => r.id === 'run-a')?.status).toBe('pruned');
  });

  it('run now on the node through the signed Backup RPC, with progress, and the result is recorded', async () => {
    const { router } = await setup();
    await router.invoke('backups.destinations.set', { kind: 'local', name: 'disk', path: '/srv/backups' }, cli);
    const p = await router.invoke('backups.policies.set', { name: 'web-data', app: 'web', source: { kind: 'volume', volume: 'data' }, destinations: ['disk'] }, cli);
    const progress: unknown[] = [];
    const run = await router.invoke('backups.run', { policy: 'web-data' }, cli, (x) => progress.push(x));
    expect(progress).toEqual([{ phase: 'uploading', plainBytes: 500, sealedBytes: 550, message: 'to disk' }]);
    const sent = obeyed.find((e) => e.runBackup)!;
    expect(sent).toMatchObject({ nodeId: NODE_ID, actor: 'admin (cli)', runBackup: { policyId: p.id, runId: run.id } });
    expect(run).toMatchObject({ policy: 'web-data', node: 'n1', app: 'web', trigger: 'manual', status: 'ok', plainBytes: 1000 });
    expect((await router.invoke('backups.runs', {}, cli)).map((r) => r.id)).toEqual([run.id]);
  });
});

describe('backups.restore', () => {
  async function withRun() {
    const s = await setup();
    await s.router.invoke('backups.destinations.set', { kind: 'local', name: 'disk', path: '/srv/backups' }, cli);
    const p = await s.router.invoke('backups.policies.set', { name: 'web-data', app: 'web', source: { kind: 'volume', volume: 'data' }, destinations: ['disk'] }, cli);
    const run = await s.router.invoke('backups.run', { policy: 'web-data' }, cli);
    const app = s.cp.db.select().from(apps).all().find((a) => a.name === 'web')!;
    s.cp.db.insert(releases).values({ id: 'rel-3', appId: app.id, number: 3, imageRef: 'localhost/app:v1', spec: app.spec, secretVersion: 0, status: 'live', createdBy: 'admin', createdAt: 1 }).run();
    obeyed.length = 0;
    return { ...s, p, run };
  }

  it('restores into a new volume named after the run by default (the node key: its own)', async () => {
    const { router, run } = await withRun();
    const r = await router.invoke('backups.restore', { run: run.id.slice(0, 8) }, cli);
    const short = run.id.replace(/-/g, '').slice(0, 8);
    expect(r).toMatchObject({ run: run.id, mode: 'new', target: `data-restored-${short}`, plainBytes: 1000, sha256: 'a'.repeat(64) });
    expect(obeyed.map((e) => e.restoreBackup && { mode: e.restoreBackup.mode, target: e.restoreBackup.targetName, key: e.restoreBackup.sealedBackupKey.length, run: e.restoreBackup.runId })).toEqual([{ mode: 'new', target: `data-restored-${short}`, key: 0, run: run.id }]);
  });

  it('over the app needs confirmation; then it stops, restores, redeploys the live release, and starts the app even when the restore fails', async () => {
    const { router, run } = await withRun();
    await expect(router.invoke('backups.restore', { run: run.id, mode: 'over' }, cli)).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining("replaces its data: nothing was changed"), hint: expect.stringContaining('--over --yes') });
    expect(obeyed).toEqual([]);

    const ok = await router.invoke('backups.restore', { run: run.id, mode: 'over', confirm: true }, cli);
    expect(ok).toMatchObject({ mode: 'over', target: 'data' });
    const steps = () => obeyed.map((e) => (e.setAppRunning ? `running=${e.setAppRunning.running}` : e.restoreBackup ? `restore ${e.restoreBackup.mode} ${e.restoreBackup.targetName}` : e.actor));
    expect(steps()).toEqual(['running=false', 'restore over data', 'redeploy web v3']);

    obeyed.length = 0;
    restoreError = 'the backup data of run x was altered (chunk 3 failed authentication); it is refused, nothing past the damage was restored';
    await expect(router.invoke('backups.restore', { run: run.id, mode: 'over', confirm: true }, cli)).rejects.toMatchObject({ code: 'integrity', message: expect.stringContaining('was altered') });
    expect(steps()).toEqual(['running=false', 'restore over data', 'redeploy web v3']);
    const audit = await router.invoke('audit.list', { limit: 1 }, cli);
    expect(audit[0]).toMatchObject({ action: 'backup.restore', target: run.id, result: 'error' });
  });

  it('refuses what cannot be restored, saying why', async () => {
    const { router, run } = await withRun();
    await expect(router.invoke('backups.restore', { run: 'nope-nope' }, cli)).rejects.toMatchObject({ code: 'not_found', message: "no backup run 'nope-nope'" });
    await expect(router.invoke('backups.restore', { run: run.id, destination: 'elsewhere' }, cli)).rejects.toMatchObject({ code: 'not_found', message: "no backup destination named 'elsewhere'" });
    await expect(router.invoke('backups.restore', { run: run.id, into: 'ghost' }, cli)).rejects.toMatchObject({ code: 'not_found', message: "no app named 'ghost' to restore into" });
    obeyed.length = 0;
    const into = await router.invoke('backups.restore', { run: run.id, into: 'api', target: 'api-copy' }, cli);
    expect(into).toMatchObject({ target: 'api-copy', mode: 'new' });
    expect(obeyed[0].restoreBackup).toMatchObject({ targetApp: 'api', targetName: 'api-copy', policy: { app: 'web' } });
  });
});
