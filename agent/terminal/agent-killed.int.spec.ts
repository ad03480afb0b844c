// The real bundled agent (out/agent/podploy-agent.cjs, rebuilt here) as a child process, reached
// over mTLS with signed opens: killed with SIGKILL in the middle of a node shell and of a
// container session whose processes outlive the connection (they ignore SIGHUP, or Podman keeps
// the exec running); the next agent start ends them, so nothing of those sessions runs on.
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestCa } from '../../test/support/test-ca';
import { AGENT_TLS_FILES, type AgentConfig } from '../../proto/agent-config';
import { AgentClient, type OpenTerminal } from '../../proto/gen/podploy/agent/v1/agent';
import { signCommand } from '../../proto/signing';
import { OPEN_TERMINAL_TTL_MS } from '../../proto/terminal-defaults';
import { agentChannelOptions, agentServerName, CONTROL_PLANE_CN } from '../../proto/tls';
import type { LiveRelease } from '../deploy/app-state';
import { APP_STATE_FILE } from '../deploy/constants';
import { PodmanClient } from '../podman/client';
import { createContainer, podployLabels, startContainer } from '../podman/containers';
import { startPodmanService, stopPodmanService } from '../podman/podman-test-service';
import { LIVE_TERMINALS_FILE } from './live-sessions';
import { processesMatching, TerminalClient } from './terminal-test-harness';

const ROOT = join(import.meta.dirname, '..', '..');
const BUNDLE = join(ROOT, 'out', 'agent', 'podploy-agent.cjs');
const NODE_ID = 'node-term-kill';
const TEST_APP = 'localhost/podploy-test-app:latest';
const run = randomBytes(4).toString('hex');
const APP = `ppkill-${run}`;
const work = mkdtempSync(join(tmpdir(), 'podploy-terminal-kill-'));
const socket = `/tmp/pp-kill-${run}.sock`;
const signing = generateKeyPairSync('ed25519');
let podmanService: ChildProcess | undefined;
let ca: TestCa;
let config: AgentConfig;
let configPath: string;
let client: AgentClient;
const agents = new Set<ChildProcess>();

beforeAll(async () => {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-agent.mjs')], { stdio: 'pipe' });
  podmanService = await startPodmanService(socket);
  ca = await TestCa.create();
  const controlPlane = await ca.issue({ commonName: CONTROL_PLANE_CN, usage: 'client' });
  config = {
    nodeId: NODE_ID,
    listenHost: '127.0.0.1',
    listenPort: await freePort(),
    tlsDir: join(work, 'tls'),
    stateDir: join(work, 'state'),
    runDir: join(work, 'run'),
    logDir: join(work, 'log'),
    podmanSocket: socket,
    manageJobs: [],
    ingressHttpListen: `127.0.0.1:${await freePort()}`,
  };
  for (const d of [config.tlsDir, config.stateDir, config.runDir, config.logDir]) mkdirSync(d, { recursive: true });
  const server = await ca.issue({ commonName: NODE_ID, dnsNames: [agentServerName(NODE_ID)], ipAddresses: ['127.0.0.1'], usage: 'server' });
  writeFileSync(join(config.tlsDir, AGENT_TLS_FILES.ca), ca.certPem);
  writeFileSync(join(config.tlsDir, AGENT_TLS_FILES.cert), server.certPem);
  writeFileSync(join(config.tlsDir, AGENT_TLS_FILES.key), server.keyPem, { mode: 0o600 });
  writeFileSync(join(config.tlsDir, AGENT_TLS_FILES.signingKey), signing.publicKey.export({ type: 'spki', format: 'pem' }));
  configPath = join(work, 'config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  client = new AgentClient(`127.0.0.1:${config.listenPort}`, credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(controlPlane.keyPem), Buffer.from(controlPlane.certPem)), agentChannelOptions(NODE_ID));
}, 120_000);

afterAll(async () => {
  client?.close();
  for (const a of agents) a.kill('SIGKILL');
  await stopPodmanService(podmanService, socket, { app: APP });
  rmSync(work, { recursive: true, force: true });
}, 60_000);

it('an agent killed mid-session: the next agent start ends what those sessions left running', async () => {
  const container = `${APP}-web`;
  await createContainer(podman(), { name: container, image: TEST_APP, command: ['sh', '-c', `trap 'exit 0' TERM; while true; do sleep 1; done`], labels: podployLabels({ app: APP, release: 'r1', slot: 'a' }), stopGraceSeconds: 1 });
  await startContainer(podman(), container);
  const live: LiveRelease = { slot: 'a', release: 'r1', container, image: TEST_APP, imageId: '', digest: '', stopGraceMs: 1_000, since: new Date().toISOString() };
  writeFileSync(join(config.stateDir, APP_STATE_FILE), JSON.stringify({ [APP]: live }));

  const first = await startAgent();
  const secs = 100_000 + Math.floor(Math.random() * 800_000);
  const [nodeSleep, containerSleep] = [secs, secs + 1];
  const shell = new TerminalClient(client.terminal(), { open: sign({ nodeShell: true }) });
  await shell.waitOpened();
  shell.type(`(trap '' HUP; exec sleep ${nodeSleep}) & echo node-$((1+1))\n`);
  await shell.waitFor(/node-2/);
  const inContainer = new TerminalClient(client.terminal(), { open: sign({ app: APP }) });
  await inContainer.waitOpened();
  inContainer.type(`sleep ${containerSleep} & echo box-$((2+1))\n`);
  await inContainer.waitFor(/box-3/);
  expect(Object.keys(JSON.parse(readFileSync(join(config.stateDir, LIVE_TERMINALS_FILE), 'utf8')))).toHaveLength(2);

  first.kill('SIGKILL');
  await exitOf(first);
  const [a, b] = await Promise.all([shell.done, inContainer.done]);
  expect((a.error as ServiceError | undefined)?.code).toBeDefined();
  expect((b.error as ServiceError | undefined)?.code).toBeDefined();
  // Without the agent, both outlive their sessions: this is what the next start must clean.
  await new Promise((r) => setTimeout(r, 500));
  expect(processesMatching(new RegExp(`^sleep ${nodeSleep} `))).toHaveLength(1);
  expect(processesMatching(new RegExp(`^sleep ${containerSleep} `))).toHaveLength(1);

  await startAgent();
  expect(processesMatching(new RegExp(`^sleep (${nodeSleep}|${containerSleep}) `))).toEqual([]);
  expect(JSON.parse(readFileSync(join(config.stateDir, LIVE_TERMINALS_FILE), 'utf8'))).toEqual({});
  const orphans = readFileSync(join(config.logDir, 'agent.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.event === 'terminal_orphan_ended');
  expect(orphans).toHaveLength(2);
}, 120_000);

function podman(): PodmanClient {
  return new PodmanClient(socket);
}

function sign(open: Partial<OpenTerminal>) {
  return signCommand(
    {
      nodeId: NODE_ID,
      actor: 'alice',
      openTerminal: { sessionId: `s-${randomBytes(4).toString('hex')}`, app: '', container: '', nodeShell: false, command: [], tty: true, cols: 80, rows: 24, env: {}, ...open },
    },
    signing.privateKey,
    { ttlMs: OPEN_TERMINAL_TTL_MS },
  );
}

async function startAgent(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BUNDLE, 'run', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  agents.add(child);
  child.once('exit', () => agents.delete(child));
  const until = Date.now() + 20_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) =>
      client.handshake({ controlPlaneId: 'test' }, (err) => resolve(!err)),
    );
    if (ok) return child;
    if (Date.now() > until || child.exitCode !== null) throw new Error(`the agent did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}
