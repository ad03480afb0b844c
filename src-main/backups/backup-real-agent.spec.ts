// The control plane's backups against the REAL agent: its gRPC server (mutual TLS from a CA made
// here), CommandExecutor and NodeBackups, over a REAL rootful Podman REST socket started here
// (the busybox test app image), and a local destination in a temp dir. Only the SSH forward is
// not under test: the "forwarded" port is the agent's own. The control plane side is the real
// Backups service and router handlers on a real control plane database.
import type { ChildProcess } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeEventInput } from '../../proto/node-events';
import { openWithNodeKey } from '../../proto/node-seal';
import { agentServerName, CONTROL_PLANE_CN } from '../../proto/tls';
import { TestCa } from '../../test/support/test-ca';
import { BACKUP_POLICIES_FILE } from '../../agent/backup/policy-store';
import { NodeBackups } from '../../agent/backup/node-backups';
import { removeVolumeHelper, startVolumeHelper } from '../../agent/backup/sources/volume-helper';
import { CommandExecutor } from '../../agent/commands';
import { fileLogger } from '../../agent/logger';
import { PodmanClient } from '../../agent/podman/client';
import { createContainer, podployLabels, removeContainer, startContainer } from '../../agent/podman/containers';
import { runExec } from '../../agent/podman/exec';
import { startPodmanService, stopPodmanService } from '../../agent/podman/podman-test-service';
import { findVolume, removeVolume } from '../../agent/podman/volumes';
import { createAgentService, startAgentServer, type RunningServer } from '../../agent/server';
import { LabelsStore } from '../../agent/state/labels-store';
import { NonceFileStore } from '../../agent/state/nonce-file-store';
import { AgentConnection } from '../agents/agent-client';
import type { NodeEventSummary } from '../api/contract';
import { Router, type CallContext, type Handlers } from '../api/router';
import { AuditLog } from '../audit';
import { CommandKey } from '../crypto/command-key';
import { Vault } from '../crypto/vault';
import { controlPlaneWithApp } from '../events/events-test-support';
import type { ControlPlane } from '../control-plane';
import { NodeStore } from '../nodes/node-store';
import { ensureNodeSecretsKey } from '../secrets/node-seal';
import type { SshSession } from '../ssh/ssh-session';
import { backupHandlers } from './backup-service';
import { Backups } from './backups';
import { backupRuns } from '../db/schema';

const NODE_ID = 'n-0'; // the node of controlPlaneWithApp
const MASTER = Buffer.alloc(32, 1);
const cli: CallContext = { actor: 'admin', source: 'cli' };
const TEST_APP = 'localhost/podploy-test-app:latest';
const tag = randomBytes(4).toString('hex');
const socket = `/tmp/pp-podman-cpbk-${tag}.sock`;
const podman = new PodmanClient(socket);
const DATA = `ppcb-${tag}-data`;
const WEB = `ppcb-${tag}-web`;
const made = new Set<string>([DATA]);
const work = mkdtempSync(join(tmpdir(), 'pp-cp-real-agent-'));
const FILES = `cd /data && find . -type f | sort | while IFS= read -r f; do echo "$f $(sha256sum < "$f" | cut -d' ' -f1)"; done`;

let service: ChildProcess | undefined;
let agentServer: RunningServer;
let conn: AgentConnection;
let cp: ControlPlane;
let router: Router;
let backups: Backups;
let backupDir: string;
const agentEvents: NodeEventInput[] = [];
const stateDir = join(work, 'agent-state');

async function inVolume(volume: string, script: string, readOnly = true): Promise<string> {
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
  await createContainer(podman, { name: WEB, image: TEST_APP, labels: podployLabels({ app: `ppcb-${tag}`, release: 'r1', slot: 'a' }), volumes: [{ name: DATA, destination: '/data' }], stopGraceSeconds: 1 });
  await startContainer(podman, WEB);
  await inVolume(DATA, `set -e; cd /data; printf 'hello\\n' > a.txt; mkdir -p d/e; printf 'deep\\n' > d/e/f; head -c 3000000 /dev/urandom > big.bin`, false);

  cp = await controlPlaneWithApp();
  await cp.router.invoke('apps.update', { spec: { name: 'web', node: 'n1', source: { kind: 'image', image: TEST_APP }, volumes: [{ name: DATA, path: '/data' }] } }, cli);
  const vault = new Vault(cp.db, MASTER);
  const nodeKey = ensureNodeSecretsKey(vault, NODE_ID);
  const commandKey = CommandKey.loadOrCreate(vault);
  const commandPublicKey = createPublicKey(commandKey.publicKeyPem);

  // The real agent for node n-0, its web app's live container being WEB.
  const ca = await TestCa.create();
  const serverCert = await ca.issue({ commonName: NODE_ID, dnsNames: [agentServerName(NODE_ID)], ipAddresses: ['127.0.0.1'], usage: 'server' });
  const client = await ca.issue({ commonName: CONTROL_PLANE_CN, usage: 'client' });
  const log = fileLogger(stateDir, 'debug');
  const apps = { live: (app: string) => (app === 'web' ? { slot: 'a' as const, release: 'r1', container: WEB, image: TEST_APP, imageId: '', digest: '', stopGraceMs: 1000, since: new Date().toISOString() } : undefined), gateOpen: () => false };
  const nodeBackups = new NodeBackups({ nodeId: NODE_ID, stateDir, commandKey: commandPublicKey, podman, apps, openSealed: (s) => openWithNodeKey(nodeKey, NODE_ID, s), events: { emit: (e) => agentEvents.push(e) }, log });
  await nodeBackups.start();
  const commands = new CommandExecutor({ nodeId: NODE_ID, commandKey: commandPublicKey, nonces: new NonceFileStore(stateDir), labels: new LabelsStore(stateDir), backups: nodeBackups, log });
  const agentService = createAgentService({ nodeId: NODE_ID, podman, labels: new LabelsStore(stateDir), commands, log, startedAtMs: Date.now(), apps, backups: nodeBackups });
  agentServer = await startAgentServer('127.0.0.1', 0, { caPem: Buffer.from(ca.certPem), certPem: Buffer.from(serverCert.certPem), keyPem: Buffer.from(serverCert.keyPem), commandKey: commandPublicKey }, agentService);
  const ssh = { forwardLocal: async () => ({ port: agentServer.port, server: createServer() }) } as unknown as SshSession;
  conn = await AgentConnection.open(ssh, NODE_ID, agentServer.port, { caCertPem: ca.certPem, client, signingKey: commandKey.privateKey });

  backups = new Backups({
    db: cp.db, vault, masterKey: MASTER, dataDir: work, nodes: new NodeStore(cp.db, vault),
    fleet: { isOnline: () => true, link: () => ({ connection: async () => conn }) as never },
    audit: new AuditLog(cp.db), writer: 'test', publishRun: () => undefined, publishPolicy: () => undefined, log: () => undefined,
  });
  const mine: Partial<Handlers> = backupHandlers({ backups, secretNames: () => [], redeploy: async () => undefined });
  router = new Router(new Proxy(mine, { get: (t, op: string) => t[op as keyof Handlers] ?? ((i: unknown, c: CallContext, p: (x: unknown) => void) => cp.router.call(op, i, c, p)) }) as Handlers);
  backupDir = join(work, 'backups');
}, 240_000);

afterAll(async () => {
  conn?.close();
  await agentServer?.stop();
  await cp?.close();
  await stopPodmanService(service, socket, {
    beforeStop: async (p) => {
      await removeContainer(p, WEB, { force: true, ignoreMissing: true }).catch(() => undefined);
      for (const v of made) await removeVolume(p, v, { force: true, ignoreMissing: true }).catch(() => undefined);
    },
  });
  rmSync(work, { recursive: true, force: true });
}, 120_000);

const toSummary = (e: NodeEventInput, i: number): NodeEventSummary => ({ id: `ev-${i}`, node: 'n1', seq: i, atMs: Date.now(), receivedAtMs: Date.now(), kind: e.kind, severity: e.severity ?? 'info', app: e.app ?? null, container: e.container ?? null, release: e.release ?? null, message: e.message, data: e.data ?? null });

describe('backups with the real agent and real Podman', () => {
  let runId = '';

  it('the agent takes the signed policies (credentials and backup key opened with its own key) and tests the destination', async () => {
    await router.invoke('backups.destinations.set', { kind: 'local', name: 'disk', path: backupDir }, cli);
    const p = await router.invoke('backups.policies.set', { name: 'web-data', app: 'web', source: { kind: 'volume', volume: DATA }, destinations: ['disk'] }, cli);
    expect(p).toMatchObject({ pushed: true, pushError: null, node: 'n1' });
    expect(existsSync(join(stateDir, BACKUP_POLICIES_FILE))).toBe(true);
    const t = await router.invoke('backups.destinations.test', { name: 'disk' }, cli);
    expect(t).toMatchObject({ ok: true, from: 'node n1' });
  });

  it('a manual run goes through the Backup RPC, and its result and the agent events fold into the same run', async () => {
    const progress: string[] = [];
    const run = await router.invoke('backups.run', { policy: 'web-data' }, cli, (p) => progress.push(p.phase));
    expect(run).toMatchObject({ policy: 'web-data', node: 'n1', app: 'web', sourceKind: 'volume', trigger: 'manual', status: 'ok', error: null, copies: [{ destination: 'disk', ok: true, error: null }] });
    expect(run.plainBytes).toBeGreaterThan(3_000_000);
    expect(run.sha256).toMatch(/^[0-9a-f]{64}$/);
    runId = run.id;
    const events = agentEvents.filter((e) => e.kind.startsWith('backup.'));
    expect(events.map((e) => e.kind)).toEqual(['backup.started', 'backup.done']);
    events.forEach((e, i) => backups.onEvent(toSummary(e, i)));
    const [again] = await router.invoke('backups.runs', { policy: 'web-data' }, cli);
    expect(again).toMatchObject({ id: run.id, status: 'ok', plainBytes: run.plainBytes, sha256: run.sha256, copies: [{ destination: 'disk', ok: true, error: null }] });
  });

  it("the node's record fills in runs when its link comes up (ListBackupRuns)", async () => {
    cp.db.delete(backupRuns).run();
    await backups.onLinkUp(NODE_ID);
    expect((await router.invoke('backups.runs', {}, cli)).map((r) => [r.id, r.status, r.policy])).toEqual([[runId, 'ok', 'web-data']]);
  });

  it('restores into a new volume, byte for byte', async () => {
    const r = await router.invoke('backups.restore', { run: runId }, cli);
    made.add(r.target);
    expect(r.target).toBe(`${DATA}-restored-${runId.replace(/-/g, '').slice(0, 8)}`);
    expect(await inVolume(r.target, FILES)).toBe(await inVolume(DATA, FILES));
  });

  it('refuses a tampered backup with the integrity error, leaving no new volume', async () => {
    const [folder] = readdirSync(join(backupDir, 'web')).map((p) => join(backupDir, 'web', p, runId));
    const data = join(folder, 'data.sealed');
    const bytes = readFileSync(data);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    writeFileSync(data, bytes);
    const target = `${DATA}-tampered`;
    made.add(target);
    await expect(router.invoke('backups.restore', { run: runId, target }, cli)).rejects.toMatchObject({ code: 'integrity', message: expect.stringContaining('was altered') });
    expect(await findVolume(podman, target)).toBeUndefined();
  });
});
