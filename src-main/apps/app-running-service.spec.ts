// apps.stop / apps.start: the real AgentConnection signs SetAppRunning and sends it over mutual
// TLS to a gRPC agent endpoint made here, which verifies it like an agent does (signature, node,
// nonce, expiry) and records what it obeyed.
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentService, type CommandEnvelope, type CommandResult, type SignedCommand } from '../../proto/gen/podploy/agent/v1/agent';
import { MemoryNonceStore, verifyCommand } from '../../proto/signing';
import { agentServerName, CONTROL_PLANE_CN } from '../../proto/tls';
import { TestCa } from '../../test/support/test-ca';
import { AgentConnection } from '../agents/agent-client';
import { AppSpec, type AppSpecInput } from '../api/contract';
import { AuditLog } from '../audit';
import { createControlPlane, type ControlPlane } from '../control-plane';
import { Vault } from '../crypto/vault';
import { apps, releases } from '../db/schema';
import { NodeStore } from '../nodes/node-store';
import type { SshSession } from '../ssh/ssh-session';
import { appRunningHandlers } from './app-running-service';

const NODE_ID = 'n-run-1';
const cli = { actor: 'admin', source: 'cli' as const };
const signing = generateKeyPairSync('ed25519');
let server: Server;
let conn: AgentConnection;
// What the agent endpoint verified and obeyed, in order.
const obeyed: CommandEnvelope[] = [];
const nonces = new MemoryNonceStore();

beforeAll(async () => {
  const ca = await TestCa.create();
  const agentCert = await ca.issue({ commonName: NODE_ID, dnsNames: [agentServerName(NODE_ID)], usage: 'server' });
  const client = await ca.issue({ commonName: CONTROL_PLANE_CN, usage: 'client' });
  server = new Server();
  server.addService(AgentService, {
    execute(call: ServerUnaryCall<SignedCommand, CommandResult>, callback: sendUnaryData<CommandResult>) {
      try {
        const envelope = verifyCommand(call.request, signing.publicKey, { nodeId: NODE_ID, nonces });
        obeyed.push(envelope);
        const s = envelope.setAppRunning!;
        callback(null, { ok: true, message: `${s.app} ${s.running ? 'started' : 'stopped on purpose'}`, labels: {} });
      } catch (err) {
        callback({ code: status.PERMISSION_DENIED, details: (err as Error).message, name: 'refused', message: (err as Error).message, metadata: undefined as never });
      }
    },
  } as never);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createSsl(Buffer.from(ca.certPem), [{ cert_chain: Buffer.from(agentCert.certPem), private_key: Buffer.from(agentCert.keyPem) }], true), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
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
});

const spec: AppSpecInput = { name: 'web', node: 'n1', source: { kind: 'image', image: 'localhost/app:v1' }, stopGraceMs: 3_000 };

async function setup(opts: { online?: boolean; release?: 'live' | 'deploying' | 'failed' | null } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'pp-running-'));
  const cp = await createControlPlane({ dataDir: dir, agentBundlePath: join(dir, 'none') });
  open.push(cp);
  const nodes = new NodeStore(cp.db, new Vault(cp.db, Buffer.alloc(32, 1)));
  nodes.insert({
    id: NODE_ID, name: 'n1', host: '10.0.0.1', port: 22, sshUser: 'deploy', hostKeyFingerprint: 'SHA256:x', hostKey: 'AAAA',
    auth: { kind: 'agent' }, agentPort: 7443, serviceMode: 'supervisor', agentVersion: '0.1.0', agentSha256: 'x',
    facts: null, usage: null, labels: {}, lastSeenAt: null, createdAt: Date.now(),
  });
  const parsed = AppSpec.parse(spec);
  cp.db.insert(apps).values({ id: 'app-1', name: 'web', nodeId: NODE_ID, spec: parsed, createdAt: 1, updatedAt: 1 }).run();
  const release = opts.release === undefined ? 'live' : opts.release;
  if (release) {
    cp.db.insert(releases).values({ id: 'r-1', appId: 'app-1', number: 1, imageRef: 'localhost/app:v1', spec: parsed, secretVersion: 0, status: release, createdBy: 'admin', createdAt: 1 }).run();
  }
  const online = opts.online ?? true;
  let links = 0;
  const handlers = appRunningHandlers({
    db: cp.db,
    nodes,
    audit: new AuditLog(cp.db, () => undefined),
    fleet: {
      isOnline: (id) => online && id === NODE_ID,
      link: () => {
        links++;
        return { connection: async () => conn } as never;
      },
    },
  });
  const audit = () => cp.router.invoke('audit.list', { limit: 10 }, cli);
  return { handlers, audit, links: () => links };
}

describe('apps.stop and apps.start', () => {
  it('send a signed SetAppRunning for this node and this app, audit it, and return the app', async () => {
    const { handlers, audit } = await setup();
    const stopped = await handlers['apps.stop']({ name: 'web' }, cli, () => undefined);
    expect(stopped).toMatchObject({ name: 'web', node: 'n1', currentRelease: { number: 1, status: 'live' } });
    const started = await handlers['apps.start']({ name: 'web' }, cli, () => undefined);
    expect(started.name).toBe('web');

    expect(obeyed.map((e) => ({ nodeId: e.nodeId, actor: e.actor, setAppRunning: e.setAppRunning }))).toEqual([
      { nodeId: NODE_ID, actor: 'admin (cli)', setAppRunning: { app: 'web', running: false } },
      { nodeId: NODE_ID, actor: 'admin (cli)', setAppRunning: { app: 'web', running: true } },
    ]);
    expect(obeyed[0].nonce).not.toBe(obeyed[1].nonce);
    expect(obeyed[0].expiresAtMs).toBeGreaterThan(Date.now());
    expect((await audit()).map((a) => [a.action, a.target, a.result, a.detail])).toEqual([
      ['app.start', 'web', 'ok', 'node n1: web started'],
      ['app.stop', 'web', 'ok', 'node n1: web stopped on purpose'],
    ]);
  });

  it('refuse clearly, send nothing and audit the refusal: unknown app, no live release, a deploy under way, node offline', async () => {
    const cases: { setup: Parameters<typeof setup>[0]; name?: string; error: Record<string, unknown> }[] = [
      { setup: {}, name: 'ghost', error: { code: 'not_found', message: "no app named 'ghost'" } },
      { setup: { release: null }, error: { code: 'invalid_input', message: "app 'web' has no live release; there is nothing to stop", hint: 'deploy it first: podploy deploy web' } },
      { setup: { release: 'failed' }, error: { code: 'invalid_input', message: "app 'web' has no live release; there is nothing to stop" } },
      { setup: { release: 'deploying' }, error: { code: 'conflict', message: "a deploy of 'web' is in progress; nothing was changed" } },
      { setup: { online: false }, error: { code: 'unreachable', message: "node 'n1' of app 'web' is offline; nothing was changed", hint: 'bring the node back (podploy node info) and stop again' } },
    ];
    for (const c of cases) {
      const { handlers, audit, links } = await setup(c.setup);
      await expect(handlers['apps.stop']({ name: c.name ?? 'web' }, cli, () => undefined)).rejects.toMatchObject(c.error);
      expect(links()).toBe(0);
      const [entry] = await audit();
      expect(entry).toMatchObject({ action: 'app.stop', target: c.name ?? 'web', result: 'error', detail: c.error.message });
    }
    const { handlers } = await setup({ online: false });
    await expect(handlers['apps.start']({ name: 'web' }, cli, () => undefined)).rejects.toMatchObject({ code: 'unreachable', hint: 'bring the node back (podploy node info) and start again' });
    expect(obeyed).toEqual([]);
  });

  it('are registered on the control plane router (an offline node is refused there too)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pp-running-'));
    const cp = await createControlPlane({ dataDir: dir, agentBundlePath: join(dir, 'none') });
    open.push(cp);
    await expect(cp.router.invoke('apps.stop', { name: 'ghost' }, cli)).rejects.toMatchObject({ code: 'not_found', message: "no app named 'ghost'" });
    await expect(cp.router.invoke('apps.start', { name: 'ghost' }, cli)).rejects.toMatchObject({ code: 'not_found', message: "no app named 'ghost'" });
  });
});
