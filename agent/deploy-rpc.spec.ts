import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DeployApp, type DeployEvent } from '../proto/gen/podploy/agent/v1/agent';
import { deployRequestFrom, finalEvent, refusedEvent, runDeploy } from './deploy-rpc';
import type { Deployer, DeployResult } from './deploy/deploy-app';

const base: DeployApp = DeployApp.fromPartial({
  app: 'web',
  release: 'r1',
  image: 'localhost/web:1',
  command: [],
  env: {},
  port: 0,
  domains: ['web.test'],
  health: undefined,
  cpus: 0,
  memoryMb: 0,
  stopGraceMs: 0,
  drainMs: 0,
});
const log = pino({ level: 'silent' });

describe('the Deploy RPC mapping', () => {
  it('takes proto3 zero values as "the agent default"', () => {
    expect(deployRequestFrom(base)).toEqual({ app: 'web', release: 'r1', image: 'localhost/web:1' });
    const health = { kind: '', path: '', intervalMs: 0, timeoutMs: 0, healthyThreshold: 0, unhealthyThreshold: 0, startPeriodMs: 0, deadlineMs: 0 };
    expect(deployRequestFrom({ ...base, health }).health).toBeUndefined();
    expect(() => deployRequestFrom({ ...base, health: { ...health, kind: 'grpc' } })).toThrow('health check kind "grpc" is unknown: use http or tcp');
  });

  it('passes every set field through', () => {
    const full: DeployApp = {
      ...base,
      command: ['sh', '-c', 'x'],
      env: { A: '1' },
      port: 3000,
      health: { kind: 'tcp', path: '/h', intervalMs: 100, timeoutMs: 200, healthyThreshold: 2, unhealthyThreshold: 3, startPeriodMs: 400, deadlineMs: 5000 },
      cpus: 0.5,
      memoryMb: 128,
      stopGraceMs: 7000,
      drainMs: 9000,
    };
    expect(deployRequestFrom(full)).toEqual({
      app: 'web',
      release: 'r1',
      image: 'localhost/web:1',
      command: ['sh', '-c', 'x'],
      env: { A: '1' },
      port: 3000,
      health: { kind: 'tcp', path: '/h', intervalMs: 100, timeoutMs: 200, healthyThreshold: 2, unhealthyThreshold: 3, startPeriodMs: 400, deadlineMs: 5000 },
      cpus: 0.5,
      memoryMb: 128,
      stopGraceMs: 7000,
      drainMs: 9000,
    });
  });

  it('builds final events for ok, failed and refused deploys', () => {
    const result: DeployResult = { ok: true, app: 'web', release: 'r1', slot: 'a', container: 'c', image: { ref: 'i', id: 'x', digest: 'sha256:ab' }, steps: [], totalMs: 900 };
    expect(finalEvent(result)).toMatchObject({ final: true, ok: true, state: 'done', imageDigest: 'sha256:ab', durationMs: 900, failedStep: '', reason: '' });
    const failed = { ...result, ok: false, failedStep: { step: 3, name: 'health' as const, reason: 'health check failed: x' } };
    expect(finalEvent(failed)).toMatchObject({ final: true, ok: false, state: 'failed', step: 3, name: 'health', failedStep: 'health', reason: 'health check failed: x' });
    expect(refusedEvent('busy')).toMatchObject({ final: true, ok: false, state: 'refused', failedStep: '', reason: 'busy' });
  });

  it('refuses an invalid release before it prepares the ingress, as a final event', async () => {
    const events: DeployEvent[] = [];
    let ensured = 0;
    const deployer = { inProgress: () => undefined, deploy: () => Promise.reject(new Error('not reached')) } as unknown as Deployer;
    const final = await runDeploy({ ...base, release: 'bad id!' }, { actor: 'a', nonce: 'n' }, { nodeId: 'n1', deployer, ingress: { ensureApp: async () => void ensured++ }, log }, (e) => events.push(e));
    expect(ensured).toBe(0);
    expect(events).toEqual([final]);
    expect(final).toMatchObject({ final: true, ok: false, state: 'refused' });
    expect(final.reason).toMatch(/^node n1: deploy of web bad id! refused: release id "bad id!"/);
  });

  it('turns an ingress failure into a refused final event', async () => {
    const deployer = { inProgress: () => undefined, deploy: () => Promise.reject(new Error('not reached')) } as unknown as Deployer;
    const ingress = { ensureApp: () => Promise.reject(new Error('Caddy config: domain "web.test" is claimed by both "api" and "web"')) };
    const final = await runDeploy(base, { actor: 'a', nonce: 'n' }, { nodeId: 'n1', deployer, ingress, log }, () => undefined);
    expect(final).toMatchObject({ ok: false, state: 'refused', reason: 'node n1: Caddy config: domain "web.test" is claimed by both "api" and "web"' });
  });
});

describe('the Deploy RPC mapping: image sources', () => {
  const sealed = Buffer.from('sealed bytes');
  const opener = (json: unknown) => (s: Uint8Array) => {
    expect(Buffer.from(s)).toEqual(sealed);
    return Buffer.from(JSON.stringify(json));
  };

  it('a git source becomes a build of the image tag, with the spec defaults for empty fields', () => {
    const d = { ...base, image: 'localhost/podploy-web:r3', git: { url: '/srv/web.git', ref: '', containerfile: '' } } as DeployApp;
    expect(deployRequestFrom(d)).toMatchObject({ image: 'localhost/podploy-web:r3', git: { url: '/srv/web.git', ref: 'main', containerfile: 'Containerfile' } });
    expect(deployRequestFrom(d).pull).toBeUndefined();
  });

  it('opens sealed registry credentials; TLS verification is off only when they come with verify=false', () => {
    const d = { ...base, image: '127.0.0.1:5000/web:1', sealedRegistryAuth: sealed, registryTlsVerify: false } as DeployApp;
    expect(deployRequestFrom(d, opener({ username: 'ci', password: 'pw', serveraddress: '127.0.0.1:5000' })).pull).toEqual({
      auth: { username: 'ci', password: 'pw', serveraddress: '127.0.0.1:5000' },
      tlsVerify: false,
    });
    expect(deployRequestFrom({ ...d, registryTlsVerify: true }, opener({ username: 'ci', password: 'pw' })).pull).toEqual({ auth: { username: 'ci', password: 'pw' }, tlsVerify: true });
    // No credentials: no pull options at all, so Podman verifies TLS.
    expect(deployRequestFrom({ ...d, sealedRegistryAuth: Buffer.alloc(0) }).pull).toBeUndefined();
  });

  it('refuses credentials it cannot open or read, before anything changes', () => {
    const d = { ...base, image: '127.0.0.1:5000/web:1', sealedRegistryAuth: sealed, registryTlsVerify: true } as DeployApp;
    expect(() => deployRequestFrom(d)).toThrow(/no secrets key to open them; run `podploy node add`/);
    expect(() => deployRequestFrom(d, () => { throw new Error('altered'); })).toThrow('the registry credentials could not be opened: altered');
    expect(() => deployRequestFrom(d, opener({ user: 'x' }))).toThrow('not {username, password}');
  });
});

describe('the Deploy RPC: Lazarus settings', () => {
  const noDeploy = () => ({ inProgress: () => undefined, deploy: () => Promise.reject(new Error('not reached')), state: { live: () => undefined } }) as unknown as Deployer;

  it('maps the restart policy field by field and a liveness probe with its defaults', () => {
    expect(deployRequestFrom({ ...base, restart: {} }).restart).toBeUndefined();
    expect(deployRequestFrom({ ...base, restart: { initialBackoffMs: 200, jitter: 0 } }).restart).toEqual({ initialBackoffMs: 200, jitter: 0 });
    expect(deployRequestFrom({ ...base, liveness: { kind: '', path: '', statusMin: 0, statusMax: 0, command: [] } }).liveness).toBeUndefined();
    expect(deployRequestFrom({ ...base, liveness: { kind: 'http', path: '', statusMin: 0, statusMax: 0, command: [], failureThreshold: 2 } }).liveness).toEqual({
      kind: 'http',
      path: '/health',
      statusMin: 200,
      statusMax: 399,
      command: [],
      intervalMs: 10_000,
      timeoutMs: 2_000,
      failureThreshold: 2,
      initialDelayMs: 5_000,
    });
  });

  it('refuses invalid restart and liveness settings with their words, before the ingress changes', async () => {
    let ensured = 0;
    const ingress = { ensureApp: async () => void ensured++ };
    const badRestart = { ...base, restart: { initialBackoffMs: 5_000, maxBackoffMs: 1_000, jitter: 1.5 } };
    const r1 = await runDeploy(badRestart, { actor: 'a', nonce: 'n' }, { nodeId: 'n1', deployer: noDeploy(), ingress, log }, () => undefined);
    expect(r1).toMatchObject({ ok: false, state: 'refused' });
    expect(r1.reason).toContain('restart jitter must be from 0 to 1 (got 1.5)');
    const r2 = await runDeploy({ ...base, restart: { initialBackoffMs: 5_000, maxBackoffMs: 1_000 } }, { actor: 'a', nonce: 'n' }, { nodeId: 'n1', deployer: noDeploy(), ingress, log }, () => undefined);
    expect(r2.reason).toContain('restart maxBackoffMs must not be below initialBackoffMs');
    const badProbe = { ...base, liveness: { kind: 'http', path: 'health', statusMin: 500, statusMax: 200, command: [], timeoutMs: 20 } };
    const r3 = await runDeploy(badProbe, { actor: 'a', nonce: 'n' }, { nodeId: 'n1', deployer: noDeploy(), ingress, log }, () => undefined);
    expect(r3.reason).toContain('liveness path must start with / (got "health")');
    expect(r3.reason).toContain('liveness status range 500-200 is empty');
    expect(r3.reason).toContain('liveness timeoutMs must be a whole number from 50 to 600000 (got 20)');
    const r4 = await runDeploy({ ...base, liveness: { kind: 'grpc', path: '', statusMin: 0, statusMax: 0, command: [] } }, { actor: 'a', nonce: 'n' }, { nodeId: 'n1', deployer: noDeploy(), ingress, log }, () => undefined);
    expect(r4.reason).toContain('liveness kind must be one of http, tcp, exec (got "grpc")');
    const r5 = await runDeploy({ ...base, liveness: { kind: 'exec', path: '', statusMin: 0, statusMax: 0, command: [] } }, { actor: 'a', nonce: 'n' }, { nodeId: 'n1', deployer: noDeploy(), ingress, log }, () => undefined);
    expect(r5.reason).toContain('an exec liveness probe needs a command');
    expect(ensured).toBe(0);
  });

  it('records the signed command when the release serves, and emits a deploy.step per ended step', async () => {
    const signed = { payload: Buffer.from('p'), signature: Buffer.from('s') };
    const result: DeployResult = { ok: true, app: 'web', release: 'r1', slot: 'a', container: 'c', steps: [], totalMs: 5 };
    const deployer = {
      inProgress: () => undefined,
      deploy: async (_r: unknown, on: (e: unknown) => void) => {
        on({ app: 'web', release: 'r1', step: 1, name: 'image', state: 'running', message: 'getting', durationMs: 0 });
        on({ app: 'web', release: 'r1', step: 1, name: 'image', state: 'done', message: 'got it', durationMs: 12 });
        return result;
      },
      state: { live: () => ({ release: 'r1' }) },
    } as unknown as Deployer;
    const recorded: unknown[] = [];
    const events: { kind: string; data?: unknown }[] = [];
    const deps = { nodeId: 'n1', deployer, ingress: { ensureApp: async () => undefined }, log, onDeployed: (s: unknown) => recorded.push(s), events: { emit: (e: { kind: string }) => events.push(e) } };
    await runDeploy(base, { actor: 'a', nonce: 'n', signed }, deps, () => undefined);
    expect(recorded).toEqual([signed]);
    expect(events).toEqual([expect.objectContaining({ kind: 'deploy.step', app: 'web', release: 'r1', data: { step: 1, name: 'image', state: 'done', durationMs: 12 } })]);
    // Another release serves (the deploy failed before its switch): nothing is recorded.
    const other = { ...deps, deployer: { ...deployer, state: { live: () => ({ release: 'r0' }) } } as unknown as Deployer };
    await runDeploy(base, { actor: 'a', nonce: 'n', signed }, other, () => undefined);
    expect(recorded).toHaveLength(1);
  });
});
