// Deploys through the REAL bundled agent (out/agent/podploy-agent.cjs run), end to end on the
// node: a signed DeployApp over mTLS gRPC, the agent's own Caddy (a child of the agent, admin
// API on a unix socket) and slot gates, a real rootful Podman REST socket started here, and the
// local test app image. Traffic goes only to 127.x addresses.
import { startPodmanService, stopPodmanService } from '../podman/podman-test-service';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCa, type PemPair } from '../../test/support/test-ca';
import { AGENT_PID_FILES, AGENT_TLS_FILES, type AgentConfig } from '../../proto/agent-config';
import { AgentClient, DeployApp, type DeployEvent, type SignedCommand } from '../../proto/gen/podploy/agent/v1/agent';
import { signCommand } from '../../proto/signing';
import { agentChannelOptions, agentServerName, CONTROL_PLANE_CN } from '../../proto/tls';
import { freePort } from '../ingress/caddy-test-process';
import { PodmanClient } from '../podman/client';
import { listContainers, PODPLOY_LABELS, removeContainer } from '../podman/containers';
import { isAlive, readPid } from '../supervisor/pid-files';

const ROOT = join(__dirname, '..', '..');
const BUNDLE = join(ROOT, 'out', 'agent', 'podploy-agent.cjs');
const TEST_APP = 'localhost/podploy-test-app:latest';
const NODE_ID = 'node-deploy-int';
const HOST = 'app.test';
const APP_PREFIX = 'ppagent-';
const run = randomBytes(4).toString('hex');
const APP = `${APP_PREFIX}${run}`;
// Never logged by the agent: the test searches its log for it.
const ENV_MARKER = `marker-${randomBytes(8).toString('hex')}`;
const HEALTH = { kind: 'http', path: '/health', intervalMs: 200, timeoutMs: 1_000, healthyThreshold: 1, unhealthyThreshold: 0, startPeriodMs: 0, deadlineMs: 15_000 };
const FAILING_DEADLINE_MS = 3_000;
const STARTUP_TIMEOUT_MS = 20_000;
const STEP_NAMES = ['image', 'start', 'health', 'switch', 'drain', 'stop'];

const work = mkdtempSync(join(tmpdir(), 'pp-agent-deploy-'));
const podmanSocket = join(work, 'podman.sock');
const podman = new PodmanClient(podmanSocket);
const signing = generateKeyPairSync('ed25519');
let podmanService: ChildProcess | undefined;
let agent: ChildProcess | undefined;
let agentOutput = '';
let ca: TestCa;
let controlPlane: PemPair;
let config: AgentConfig;
let configPath: string;
let httpPort: number;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-agent.mjs')], { stdio: 'pipe' });
  podmanService = await startPodmanService(podmanSocket);
  // Containers of an earlier run that died before its cleanup would hold the slot addresses.
  for (const c of await listContainers(podman, { all: true } as never)) {
    if (c.labels[PODPLOY_LABELS.app]?.startsWith(APP_PREFIX)) await removeContainer(podman, c.id, { force: true, ignoreMissing: true });
  }

  ca = await TestCa.create();
  controlPlane = await ca.issue({ commonName: CONTROL_PLANE_CN, usage: 'client' });
  httpPort = await freePort();
  const dir = join(work, 'agent');
  config = {
    nodeId: NODE_ID,
    listenHost: '127.0.0.1',
    listenPort: await freePort(),
    tlsDir: join(dir, 'tls'),
    stateDir: join(dir, 'state'),
    runDir: join(dir, 'run'),
    logDir: join(dir, 'log'),
    podmanSocket,
    manageJobs: [],
    ingressHttpListen: `127.0.0.1:${httpPort}`,
  };
  for (const d of [config.tlsDir, config.stateDir, config.runDir, config.logDir]) mkdirSync(d, { recursive: true });
  const server = await ca.issue({ commonName: NODE_ID, dnsNames: [agentServerName(NODE_ID)], ipAddresses: ['127.0.0.1'], usage: 'server' });
  writeFileSync(join(config.tlsDir, AGENT_TLS_FILES.ca), ca.certPem);
  writeFileSync(join(config.tlsDir, AGENT_TLS_FILES.cert), server.certPem);
  writeFileSync(join(config.tlsDir, AGENT_TLS_FILES.key), server.keyPem, { mode: 0o600 });
  writeFileSync(join(config.tlsDir, AGENT_TLS_FILES.signingKey), signing.publicKey.export({ type: 'spki', format: 'pem' }));
  configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  await startAgent();
}, 90_000);

afterAll(async () => {
  if (agent) await stopAgent();
  await stopPodmanService(podmanService, podmanSocket, { app: APP });
  rmSync(work, { recursive: true, force: true });
}, 30_000);

async function startAgent(): Promise<void> {
  agentOutput = '';
  const child = spawn(process.execPath, [BUNDLE, 'run', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (agentOutput += d));
  child.stderr!.on('data', (d) => (agentOutput += d));
  agent = child;
  await waitFor(() => handshake().then(() => true, () => null), 'the agent handshake', STARTUP_TIMEOUT_MS).catch((err: Error) => {
    throw new Error(`${err.message}\n${agentOutput}`);
  });
}

async function stopAgent(): Promise<void> {
  const child = agent!;
  agent = undefined;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(killer);
}

function client(): AgentClient {
  const creds = credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(controlPlane.keyPem), Buffer.from(controlPlane.certPem));
  return new AgentClient(`127.0.0.1:${config.listenPort}`, creds, agentChannelOptions(NODE_ID));
}

function handshake(): Promise<void> {
  const c = client();
  return new Promise((resolve, reject) =>
    c.handshake({ controlPlaneId: 'test' }, new Metadata(), { deadline: Date.now() + 1_000 }, (err) => {
      c.close();
      return err ? reject(err) : resolve();
    }),
  );
}

function deployApp(release: string, version: string, extra: Partial<DeployApp> = {}): DeployApp {
  return DeployApp.fromPartial({
    app: APP,
    release,
    image: TEST_APP,
    command: [],
    env: { APP_VERSION: version, MARKER: ENV_MARKER },
    port: 8080,
    domains: [HOST],
    health: HEALTH,
    cpus: 0.5,
    memoryMb: 64,
    stopGraceMs: 5_000,
    drainMs: 5_000,
    ...extra,
  });
}

function sign(d: DeployApp): SignedCommand {
  return signCommand({ nodeId: NODE_ID, actor: 'alice', deployApp: d }, signing.privateKey);
}

// The whole stream: every event, or the call's error.
function deployCall(signed: SignedCommand): Promise<{ events: DeployEvent[]; error?: ServiceError }> {
  const c = client();
  const events: DeployEvent[] = [];
  return new Promise((resolve) => {
    const stream = c.deploy(signed, new Metadata(), { deadline: Date.now() + 60_000 });
    stream.on('data', (e: DeployEvent) => events.push(e));
    stream.on('error', (error: ServiceError) => {
      c.close();
      resolve({ events, error });
    });
    stream.on('end', () => {
      c.close();
      resolve({ events });
    });
  });
}

async function deploy(d: DeployApp): Promise<{ events: DeployEvent[]; final: DeployEvent }> {
  const t0 = Date.now();
  const { events, error } = await deployCall(sign(d));
  if (error) throw error;
  const final = events.at(-1)!;
  const steps = events.filter((e) => !e.final && e.state !== 'running').map((e) => `${e.step} ${e.name} ${e.state} ${e.durationMs} ms`);
  console.log(`[agent-deploy] ${d.release} (${d.env.APP_VERSION}): ${final.ok ? 'ok' : final.state} in ${Date.now() - t0} ms: ${steps.join(', ')}${final.reason ? `\n  reason: ${final.reason}` : ''}`);
  return { events, final };
}

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: httpPort, path, headers: { Host: HOST }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function version(): Promise<string> {
  const res = await get('/version');
  return `${res.status} ${res.body.trim()}`;
}

async function waitFor<T>(probe: () => T | null | Promise<T | null>, what: string, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const value = await probe();
    if (value !== null && value !== undefined) return value;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function logLines(): Record<string, unknown>[] {
  return readFileSync(join(config.logDir, 'agent.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

describe('deploys through the running agent (Deploy RPC, its own Caddy and slot gates)', () => {
  it('deploys v1 with all six steps streamed, then serves it through Caddy', async () => {
    const { events, final } = await deploy(deployApp('r1', 'v1'));
    expect(events.filter((e) => !e.final && e.state === 'running').map((e) => e.name)).toEqual(STEP_NAMES);
    expect(events.filter((e) => !e.final && e.state === 'done').map((e) => `${e.step}:${e.name}`)).toEqual(STEP_NAMES.map((n, i) => `${i + 1}:${n}`));
    expect(events.filter((e) => e.final)).toHaveLength(1);
    expect(final).toMatchObject({ final: true, ok: true, state: 'done', failedStep: '', reason: '' });
    expect(final.imageDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await version()).toBe('200 v1');
    // The node's Caddy is the agent's child, with its admin API on a unix socket in runDir.
    expect(isAlive(readPid(join(config.runDir, AGENT_PID_FILES.caddy))!)).toBe(true);
  });

  it('deploys v2: Caddy now serves v2 and v1 is gone', async () => {
    const configBefore = readFileSync(join(config.runDir, 'caddy.json'), 'utf8');
    const { final } = await deploy(deployApp('r2', 'v2'));
    expect(final).toMatchObject({ final: true, ok: true });
    expect(await version()).toBe('200 v2');
    const left = await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: APP } });
    expect(left.map((c) => c.labels[PODPLOY_LABELS.release])).toEqual(['r2']);
    // The deploy did not change Caddy's configuration.
    expect(readFileSync(join(config.runDir, 'caddy.json'), 'utf8')).toBe(configBefore);
  });

  it('fails a deploy whose health check never passes (final ok=false at step 3); v2 keeps serving; a concurrent deploy is refused', async () => {
    const unhealthy = deployApp('r3', 'v3', { command: ['sh', '-c', 'touch /tmp/unhealthy; exec /app/start'], health: { ...HEALTH, deadlineMs: FAILING_DEADLINE_MS } });
    const pending = deploy(unhealthy);
    await sleep(300);
    const { final: refused } = await deploy(deployApp('r4', 'v4'));
    expect(refused).toMatchObject({ final: true, ok: false, state: 'refused', failedStep: '' });
    expect(refused.reason).toMatch(new RegExp(`node ${NODE_ID}: app ${APP}: a deploy of release r3 is in progress`));
    const { events, final } = await pending;
    expect(final).toMatchObject({ final: true, ok: false, state: 'failed', step: 3, failedStep: 'health' });
    expect(final.reason).toContain('health check failed');
    expect(final.reason).toContain('release r2 keeps serving');
    expect(events.some((e) => !e.final && e.step >= 4)).toBe(false);
    expect(await version()).toBe('200 v2');
    expect(await listContainers(podman, { labels: { [PODPLOY_LABELS.app]: APP, [PODPLOY_LABELS.release]: 'r3' } })).toEqual([]);
  });

  it('refuses unsigned, replayed and non-deploy commands, and a domain another app holds', async () => {
    const signed = sign(deployApp('r5', 'v5', { image: 'localhost/podploy-nope:1' }));
    const first = await deployCall(signed);
    expect(first.error).toBeUndefined();
    expect(first.events.at(-1)).toMatchObject({ final: true, ok: false, failedStep: 'image' });

    const replay = await deployCall(signed);
    expect(replay.error).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(replay.error!.details).toContain('replayed');
    expect(replay.events).toEqual([]);

    const unsigned = await deployCall({ payload: sign(deployApp('r6', 'v6')).payload, signature: Buffer.alloc(0) });
    expect(unsigned.error).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(unsigned.error!.details).toContain('unsigned');

    const otherKey = generateKeyPairSync('ed25519').privateKey;
    const forged = await deployCall(signCommand({ nodeId: NODE_ID, actor: 'mallory', deployApp: deployApp('r7', 'v7') }, otherKey));
    expect(forged.error).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(forged.error!.details).toContain('bad_signature');

    const labels = await deployCall(signCommand({ nodeId: NODE_ID, actor: 'alice', setLabels: { labels: { a: 'b' } } }, signing.privateKey));
    expect(labels.error).toMatchObject({ code: status.INVALID_ARGUMENT });

    const { final: taken } = await deploy({ ...deployApp('r8', 'v8'), app: `${APP_PREFIX}other-${run}` });
    expect(taken).toMatchObject({ final: true, ok: false, state: 'refused' });
    expect(taken.reason).toContain(`domain "${HOST}" is claimed by both`);

    const rejected = logLines().filter((l) => l.event === 'command_rejected').map((l) => l.reason);
    expect(rejected).toEqual(expect.arrayContaining(['replayed', 'unsigned', 'bad_signature']));
    expect(await version()).toBe('200 v2');
  });

  it('restarts a killed Caddy and re-applies the routes', async () => {
    const pidFile = join(config.runDir, AGENT_PID_FILES.caddy);
    const before = readPid(pidFile)!;
    process.kill(before, 'SIGKILL');
    const after = await waitFor(() => {
      const pid = readPid(pidFile);
      return pid !== null && pid !== before ? pid : null;
    }, 'a new Caddy', 10_000);
    expect(after).not.toBe(before);
    await waitFor(() => version().then((v) => (v === '200 v2' ? v : null), () => null), 'v2 through the restarted Caddy', 10_000);
  });

  it('restores Caddy and the gates after an agent restart: v2 still serves, and the next deploy works', async () => {
    await stopAgent();
    await expect(version()).rejects.toThrow();
    const t0 = Date.now();
    await startAgent();
    await waitFor(() => version().then((v) => (v === '200 v2' ? v : null), () => null), 'v2 after the agent restart', 15_000);
    console.log(`[agent-deploy] agent restart: v2 serves again ${Date.now() - t0} ms after the new agent was spawned`);
    const { final } = await deploy(deployApp('r9', 'v9'));
    expect(final).toMatchObject({ final: true, ok: true });
    expect(await version()).toBe('200 v9');
  });

  it('replaces the Caddy a SIGKILLed agent left behind, and keeps serving', async () => {
    const pidFile = join(config.runDir, AGENT_PID_FILES.caddy);
    const orphan = readPid(pidFile)!;
    const child = agent!;
    agent = undefined;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    // The orphaned Caddy and the container keep serving; the gates died with the agent, and
    // Caddy's retries (try_duration) hold requests until they come back.
    expect(isAlive(orphan)).toBe(true);
    await startAgent();
    await waitFor(() => (isAlive(orphan) ? null : true), 'the leftover Caddy to be stopped', 10_000);
    const fresh = await waitFor(() => readPid(pidFile), 'the new caddy.pid', 10_000);
    expect(fresh).not.toBe(orphan);
    await waitFor(() => version().then((v) => (v === '200 v9' ? v : null), () => null), 'v9 after the SIGKILL restart', 15_000);
  });

  it('logs each deploy start and end with app and release, never an env value', () => {
    const lines = logLines();
    const finished = lines.filter((l) => l.event === 'deploy_finished').map((l) => `${l.app} ${l.release} ${l.state}`);
    expect(finished).toEqual(expect.arrayContaining([`${APP} r1 done`, `${APP} r2 done`, `${APP} r3 failed`, `${APP} r4 refused`, `${APP} r9 done`]));
    expect(lines.filter((l) => l.event === 'deploy_started').length).toBeGreaterThanOrEqual(finished.length);
    const logs = readFileSync(join(config.logDir, 'agent.log'), 'utf8') + readFileSync(join(config.logDir, 'caddy.log'), 'utf8') + agentOutput;
    expect(logs).not.toContain(ENV_MARKER);
  });
});
