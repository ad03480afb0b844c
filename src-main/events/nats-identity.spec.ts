import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, nkeys } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { validateAgentConfig } from '../../agent/config';
import { NatsProcess, natsProcessOptions } from '../../agent/events/nats-process';
import { freePort, memoryLogger, TEST_NATS_BINARY } from '../../agent/events/nats-test-node';
import { Vault } from '../crypto/vault';
import { openDatabase } from '../db/database';
import { DEFAULT_NATS_PORT } from '../../proto/agent-config';
import { buildAgentConfig, natsPortFor } from '../nodes/onboarding/agent-config';
import { agentPaths, agentPortFor } from '../nodes/onboarding/agent-files';
import { ensureNodeSecretsKey } from '../secrets/node-seal';
import { loadOrCreateControlPlaneNkey, nodeNatsIdentity } from './nats-identity';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'podploy-nats-identity-'));
  dirs.push(dir);
  return dir;
}

function vault(dir = tempDir(), masterKey: Uint8Array = randomBytes(32)): Vault {
  return new Vault(openDatabase(join(dir, 'db.sqlite')), masterKey);
}

// The agent config exactly as onboarding writes it and the agent reads it back.
function agentConfigFor(v: Vault, nodeId: string, home = '/home/u') {
  const written = buildAgentConfig(nodeId, 7443, agentPaths(home), '/run/podman.sock', 'supervisor', ensureNodeSecretsKey(v, nodeId), nodeNatsIdentity(v, nodeId));
  return validateAgentConfig(JSON.parse(JSON.stringify(written)), `${home}/.local/share/podploy/agent/config.json`);
}

describe('nats identities', () => {
  it('keeps the control plane nkey sealed in the vault: the same after a restart, unreadable without the master key', () => {
    const dir = tempDir();
    const master = randomBytes(32);
    const first = loadOrCreateControlPlaneNkey(vault(dir, master));
    expect(first.publicKey).toMatch(/^U[A-Z0-9]{55}$/);
    expect(new TextDecoder().decode(first.seed)).toMatch(/^SU/);
    const again = loadOrCreateControlPlaneNkey(vault(dir, master));
    expect(again.publicKey).toBe(first.publicKey);
    expect(Buffer.from(again.seed)).toEqual(Buffer.from(first.seed));
    expect(() => loadOrCreateControlPlaneNkey(vault(dir, randomBytes(32)))).toThrow();
  });

  it('writes a nats section per node that a re-onboarding leaves unchanged', () => {
    const v = vault();
    const a = agentConfigFor(v, 'node-a');
    const b = agentConfigFor(v, 'node-b');
    const cp = loadOrCreateControlPlaneNkey(v).publicKey;
    expect(a.nats).toEqual({ port: 14222, agentSeed: expect.stringMatching(/^SU/), controlPlaneNkey: cp });
    expect(b.nats?.controlPlaneNkey).toBe(cp);
    expect(b.nats?.agentSeed).not.toBe(a.nats?.agentSeed);
    // A re-run writes the very same config file.
    expect(JSON.stringify(agentConfigFor(v, 'node-a'))).toBe(JSON.stringify(a));
    expect(nkeys.fromSeed(new TextEncoder().encode(a.nats!.agentSeed)).getPublicKey()).not.toBe(cp);
  });

  it('pairs the nats-server port with the agent port, so each user of a server has its own', () => {
    expect(natsPortFor(agentPortFor(1000))).toBe(DEFAULT_NATS_PORT);
    expect(natsPortFor(agentPortFor(1001))).toBe(DEFAULT_NATS_PORT + 1);
    expect(natsPortFor(agentPortFor(1999))).toBe(DEFAULT_NATS_PORT + 999);
    expect(natsPortFor(agentPortFor(65_534))).toBe(DEFAULT_NATS_PORT + 534);
  });

  it('lets the control plane read, as its vault key, from the nats-server an onboarded agent runs', async () => {
    const v = vault();
    const home = tempDir();
    const config = agentConfigFor(v, 'node-a', home);
    const nats = { ...config.nats!, port: await freePort(), binary: TEST_NATS_BINARY };
    const { log } = memoryLogger();
    const proc = new NatsProcess(natsProcessOptions(config, nats, log));
    await proc.start();
    try {
      await proc.waitReady(10_000);
      const nc = await connect({ servers: `127.0.0.1:${nats.port}`, authenticator: nkeyAuthenticator(loadOrCreateControlPlaneNkey(v).seed) });
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      await expect(jsm.streams.info('PODPLOY_EVENTS')).rejects.toThrow(/stream not found/);
      await expect(jsm.streams.add({ name: 'PODPLOY_EVENTS', subjects: ['podploy.events.>'] })).rejects.toThrow(/Permissions Violation/);
      await nc.close();
      const other = loadOrCreateControlPlaneNkey(vault());
      await expect(connect({ servers: `127.0.0.1:${nats.port}`, reconnect: false, authenticator: nkeyAuthenticator(other.seed) })).rejects.toThrow(/Authorization/i);
    } finally {
      await proc.stop();
    }
  });
});
