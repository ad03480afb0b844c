// The real bundled agent (out/agent/podploy-agent.cjs) as a child process, reached over mTLS by
// the generated gRPC client, with a fleet CA made here; the supervisor path too.
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCa, type PemPair } from '../test/support/test-ca';
import { AGENT_PID_FILES, AGENT_TLS_FILES, type AgentConfig } from '../proto/agent-config';
import { AgentClient, CommandEnvelope, type CommandResult, type HandshakeResponse, type SignedCommand, type UsageReport } from '../proto/gen/podploy/agent/v1/agent';
import { signCommand } from '../proto/signing';
import { agentChannelOptions, agentServerName, CONTROL_PLANE_CN } from '../proto/tls';
import { isAlive, readPid } from './supervisor/pid-files';
import { INTERIM_PODMAN_PID_FILE } from './supervisor/supervisor';

const ROOT = join(__dirname, '..');
const BUNDLE = join(ROOT, 'out', 'agent', 'podploy-agent.cjs');
const NODE_ID = 'node-int-1';
const USAGE_INTERVAL_MS = 300;
const STARTUP_TIMEOUT_MS = 15_000;

const work = mkdtempSync(join(tmpdir(), 'podploy-agent-int-'));
const signing = generateKeyPairSync('ed25519');
const children = new Set<ChildProcess>();
let ca: TestCa;
let controlPlane: PemPair;
let podmanSocket = join(work, 'no-podman.sock');
let podmanService: ChildProcess | null = null;

beforeAll(async () => {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-agent.mjs')], { stdio: 'pipe' });
  ca = await TestCa.create();
  controlPlane = await ca.issue({ commonName: CONTROL_PLANE_CN, usage: 'client' });
  podmanSocket = await startPodmanIfPossible();
  console.info(podmanService ? `facts and usage against a real Podman socket at ${podmanSocket}` : 'no Podman here: the agent runs against a missing socket');
}, 60_000);

afterAll(async () => {
  // SIGTERM first: a supervisor stops its own children; SIGKILL would orphan them.
  await Promise.all([...children].map((child) => stopChild(child, 'SIGTERM', 12_000)));
  podmanService?.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}, 30_000);

describe('the bundled agent over mTLS', () => {
  let agentDir: AgentDir;
  let agent: ChildProcess;

  beforeAll(async () => {
    agentDir = await makeAgentDir('direct', { manageJobs: [], podmanSocket });
    agent = await startAgent(agentDir);
  }, 60_000);

  it('answers the handshake with the node facts', async () => {
    const res = await handshake(clientFor(agentDir));
    expect(res.nodeId).toBe(NODE_ID);
    expect(res.agentVersion).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    expect(res.startedAtMs).toBeGreaterThan(Date.now() - 60_000);
    expect(res.facts).toMatchObject({ nodeVersion: process.version, cpuCount: expect.any(Number), user: expect.any(String) });
    expect(res.facts!.memTotalBytes).toBeGreaterThan(0);
    expect(res.facts!.diskTotalBytes).toBeGreaterThan(0);
    if (podmanService) expect(res.facts!.podmanVersion).toMatch(/^\d+\.\d+/);
    else expect(res.facts!.podmanVersion).toBe('');
  });

  it('streams usage reports at the requested interval', async () => {
    const stream = clientFor(agentDir).watchUsage({ intervalMs: USAGE_INTERVAL_MS });
    const reports: { at: number; report: UsageReport }[] = [];
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (report: UsageReport) => {
        reports.push({ at: Date.now(), report });
        if (reports.length === 4) resolve();
      });
      stream.on('error', (err: ServiceError) => (err.code === status.CANCELLED ? resolve() : reject(err)));
    });
    stream.cancel();
    const gaps = reports.slice(1).map((r, i) => r.report.atMs - reports[i].report.atMs);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(USAGE_INTERVAL_MS - 50);
      expect(gap).toBeLessThan(USAGE_INTERVAL_MS * 3);
    }
    const last = reports[3].report;
    expect(last.memTotalBytes).toBeGreaterThan(last.memUsedBytes);
    expect(last.agentRssBytes).toBeGreaterThan(0);
    expect(last.cpuPercent).toBeGreaterThanOrEqual(0);
    if (!podmanService) expect(last.containerCount).toBe(0);
  });

  it('refuses a client certificate from another CA', async () => {
    const otherCa = await TestCa.create('PodPloy other CA');
    const imposter = await otherCa.issue({ commonName: CONTROL_PLANE_CN, usage: 'client' });
    const err = await refusal(handshake(clientFor(agentDir, imposter)));
    expect(err).toMatchObject({ code: status.UNAVAILABLE });
  });

  it('refuses a client without a certificate', async () => {
    const client = new AgentClient(`127.0.0.1:${agentDir.config.listenPort}`, credentials.createSsl(Buffer.from(ca.certPem)), agentChannelOptions(NODE_ID));
    const err = await refusal(handshake(client));
    expect(err).toMatchObject({ code: status.UNAVAILABLE });
  });

  it('refuses a fleet certificate that is not the control plane', async () => {
    const otherAgent = await ca.issue({ commonName: 'node-int-2', usage: 'client' });
    const err = await refusal(handshake(clientFor(agentDir, otherAgent)));
    expect(err).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(err.details).toContain(CONTROL_PLANE_CN);
  });

  it('applies a signed SetLabels and keeps the labels and its nonce across a restart', async () => {
    const signed = signCommand({ nodeId: NODE_ID, actor: 'alice', setLabels: { labels: { role: 'web', zone: 'a' } } }, signing.privateKey);
    const res = await execute(clientFor(agentDir), signed);
    expect(res).toEqual({ ok: true, message: 'labels set (2)', labels: { role: 'web', zone: 'a' } });

    await stopChild(agent, 'SIGTERM');
    agent = await startAgent(agentDir);
    expect((await handshake(clientFor(agentDir))).labels).toEqual({ role: 'web', zone: 'a' });

    const replay = await refusal(execute(clientFor(agentDir), signed));
    expect(replay).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(replay.details).toContain('replayed');
  });

  it('rejects tampered, unsigned, expired, replayed and wrong-node commands with their reason', async () => {
    const client = clientFor(agentDir);
    const cmd = { nodeId: NODE_ID, actor: 'mallory', setLabels: { labels: { role: 'evil' } } };
    const good = signCommand(cmd, signing.privateKey);
    const env = CommandEnvelope.decode(good.payload);
    const tampered = { ...good, payload: Buffer.from(CommandEnvelope.encode({ ...env, actor: 'alice' }).finish()) };
    const otherKey = generateKeyPairSync('ed25519').privateKey;
    const cases: [string, SignedCommand][] = [
      ['bad_signature', tampered],
      ['bad_signature', signCommand(cmd, otherKey)],
      ['unsigned', { payload: good.payload, signature: Buffer.alloc(0) }],
      ['expired', signCommand(cmd, signing.privateKey, { now: Date.now() - 120_000, ttlMs: 60_000 })],
      ['not_yet_valid', signCommand(cmd, signing.privateKey, { now: Date.now() + 300_000 })],
      ['ttl_too_long', signCommand(cmd, signing.privateKey, { ttlMs: 3_600_000 })],
      ['wrong_node', signCommand({ ...cmd, nodeId: 'node-int-2' }, signing.privateKey)],
    ];
    for (const [reason, signed] of cases) {
      const err = await refusal(execute(client, signed));
      expect(err, reason).toMatchObject({ code: status.PERMISSION_DENIED });
      expect(err.details, reason).toContain(reason);
    }
    await execute(client, good);
    const replay = await refusal(execute(client, good));
    expect(replay.details).toContain('replayed');
    const restored = signCommand({ nodeId: NODE_ID, actor: 'alice', setLabels: { labels: { role: 'web', zone: 'a' } } }, signing.privateKey);
    await execute(client, restored);
    expect((await handshake(client)).labels).toEqual({ role: 'web', zone: 'a' });

    const rejected = logLines(agentDir).filter((l) => l.event === 'command_rejected').map((l) => l.reason);
    expect(rejected).toEqual(expect.arrayContaining(['replayed', 'bad_signature', 'unsigned', 'expired', 'not_yet_valid', 'ttl_too_long', 'wrong_node']));
  });

  afterAll(async () => {
    if (agent) await stopChild(agent, 'SIGTERM');
  });
});

describe('the supervisor (no systemd)', () => {
  it('restarts a killed agent, refuses a second supervisor, and stops everything on SIGTERM', async () => {
    const manageJobs: AgentConfig['manageJobs'] = podmanService ? ['podman'] : [];
    const dir = await makeAgentDir('supervised', { manageJobs, podmanSocket: join(work, 'supervised', 'run', 'podman.sock') });
    // Onboarding leaves an interim Podman service on the socket; the supervisor replaces it.
    const interim = podmanService ? spawn('podman', ['system', 'service', '--time=0', `unix://${dir.config.podmanSocket}`], { stdio: 'ignore' }) : null;
    if (interim) {
      children.add(interim);
      writeFileSync(join(dir.config.runDir, INTERIM_PODMAN_PID_FILE), `${interim.pid}\n`);
      await waitFor(() => ping(dir.config.podmanSocket).then((ok) => ok || null), 'the interim Podman socket');
    }
    const supervisor = spawnTracked([BUNDLE, 'supervise', '--config', dir.configPath]);
    const pidFile = (name: keyof typeof AGENT_PID_FILES) => join(dir.config.runDir, AGENT_PID_FILES[name]);

    const first = await waitFor(() => readPid(pidFile('agent')), 'agent.pid');
    expect(readPid(pidFile('supervisor'))).toBe(supervisor.pid);
    const facts = (await handshakeWithin(dir)).facts!;
    if (interim) {
      expect(facts.podmanVersion).toMatch(/^\d+\.\d+/);
      expect(isAlive(readPid(pidFile('podman'))!)).toBe(true);
      await exitOf(interim);
      expect(isAlive(interim.pid!)).toBe(false);
      expect(existsSync(join(dir.config.runDir, INTERIM_PODMAN_PID_FILE))).toBe(false);
    }

    process.kill(first, 'SIGKILL');
    const second = await waitFor(() => {
      const pid = readPid(pidFile('agent'));
      return pid !== null && pid !== first ? pid : null;
    }, 'a new agent.pid');
    expect(isAlive(first)).toBe(false);
    expect((await handshakeWithin(dir)).nodeId).toBe(NODE_ID);

    const rival = spawnTracked([BUNDLE, 'supervise', '--config', dir.configPath]);
    const rivalExit = await exitOf(rival);
    expect(rivalExit.code).toBe(3);
    expect(readPid(pidFile('supervisor'))).toBe(supervisor.pid);

    const podmanPid = readPid(pidFile('podman'));
    supervisor.kill('SIGTERM');
    expect((await exitOf(supervisor)).code).toBe(0);
    expect(isAlive(second)).toBe(false);
    if (podmanPid) expect(isAlive(podmanPid)).toBe(false);
    for (const name of ['supervisor', 'agent', 'podman'] as const) expect(existsSync(pidFile(name)), name).toBe(false);
  }, 60_000);
});

interface AgentDir {
  configPath: string;
  config: AgentConfig;
  server: PemPair;
}

async function makeAgentDir(name: string, over: Pick<AgentConfig, 'manageJobs' | 'podmanSocket'>): Promise<AgentDir> {
  const dir = join(work, name);
  const config: AgentConfig = {
    nodeId: NODE_ID,
    listenHost: '127.0.0.1',
    listenPort: await freePort(),
    tlsDir: join(dir, 'tls'),
    stateDir: join(dir, 'state'),
    runDir: join(dir, 'run'),
    logDir: join(dir, 'log'),
    ...over,
  };
  for (const d of [config.tlsDir, config.stateDir, config.runDir, config.logDir]) mkdirSync(d, { recursive: true });
  const server = await ca.issue({ commonName: NODE_ID, dnsNames: [agentServerName(NODE_ID)], ipAddresses: ['127.0.0.1'], usage: 'server' });
  writeFileSync(join(config.tlsDir, AGENT_TLS_FILES.ca), ca.certPem);
  writeFileSync(join(config.tlsDir, AGENT_TLS_FILES.cert), server.certPem);
  writeFileSync(join(config.tlsDir, AGENT_TLS_FILES.key), server.keyPem, { mode: 0o600 });
  writeFileSync(join(config.tlsDir, AGENT_TLS_FILES.signingKey), signing.publicKey.export({ type: 'spki', format: 'pem' }));
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return { configPath, config, server };
}

function clientFor(dir: AgentDir, cert: PemPair = controlPlane): AgentClient {
  const creds = credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(cert.keyPem), Buffer.from(cert.certPem));
  return new AgentClient(`127.0.0.1:${dir.config.listenPort}`, creds, agentChannelOptions(NODE_ID));
}

function handshake(client: AgentClient, deadlineMs = 5_000): Promise<HandshakeResponse> {
  return new Promise((resolve, reject) =>
    client.handshake({ controlPlaneId: 'test' }, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => {
      client.close();
      return err ? reject(err) : resolve(res);
    }),
  );
}

async function handshakeWithin(dir: AgentDir): Promise<HandshakeResponse> {
  let last: unknown;
  return waitFor(
    () =>
      handshake(clientFor(dir), 1_000).catch((err) => {
        last = err;
        return null;
      }),
    'a handshake',
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last error: ${(last as Error)?.message}`);
  });
}

function execute(client: AgentClient, signed: SignedCommand): Promise<CommandResult> {
  return new Promise((resolve, reject) =>
    client.execute(signed, new Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

// The error of a call that must fail.
async function refusal(call: Promise<unknown>): Promise<ServiceError> {
  const outcome = await call.then(
    () => null,
    (err: ServiceError) => err,
  );
  if (!outcome) throw new Error('the call was expected to be refused but it succeeded');
  return outcome;
}

function spawnTracked(args: string[]): ChildProcess {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  (child as ChildProcess & { output: () => string }).output = () => output;
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function startAgent(dir: AgentDir): Promise<ChildProcess> {
  const child = spawnTracked([BUNDLE, 'run', '--config', dir.configPath]);
  await handshakeWithin(dir).catch((err) => {
    throw new Error(`the agent did not start: ${err.message}\n${(child as ChildProcess & { output: () => string }).output()}`);
  });
  return child;
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals, killAfterMs = 10_000): Promise<void> {
  const exited = exitOf(child);
  child.kill(signal);
  const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  await exited;
  clearTimeout(killer);
}

async function waitFor<T>(probe: () => T | null | Promise<T | null>, what: string, timeoutMs = STARTUP_TIMEOUT_MS): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const value = await probe();
    if (value !== null && value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function logLines(dir: AgentDir): Record<string, unknown>[] {
  return readFileSync(join(dir.config.logDir, 'agent.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
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

// A real rootful Podman REST socket when Podman is installed; otherwise a path with nothing
// behind it, which the agent must survive.
async function startPodmanIfPossible(): Promise<string> {
  const socket = join(work, 'podman.sock');
  try {
    execFileSync('podman', ['--version'], { stdio: 'ignore' });
  } catch {
    return socket;
  }
  podmanService = spawn('podman', ['system', 'service', '--time=0', `unix://${socket}`], { stdio: 'ignore' });
  const up = await waitFor(() => ping(socket).then((ok) => (ok ? true : null)), 'Podman REST socket', 10_000).catch(() => false);
  if (!up) {
    podmanService.kill('SIGKILL');
    podmanService = null;
  }
  return socket;
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    request({ socketPath: socket, path: '/_ping', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    })
      .on('error', () => resolve(false))
      .end();
  });
}
