import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSealed } from '../../agent/secrets/node-key';
import { validateAgentConfig } from '../../agent/config';
import { Vault } from '../crypto/vault';
import { openDatabase } from '../db/database';
import { buildAgentConfig } from '../nodes/onboarding/agent-config';
import { agentPaths } from '../nodes/onboarding/agent-files';
import { ensureNodeSecretsKey, sealForNode } from './node-seal';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function vault(): Vault {
  const dir = mkdtempSync(join(tmpdir(), 'podploy-node-seal-'));
  dirs.push(dir);
  return new Vault(openDatabase(join(dir, 'db.sqlite')), randomBytes(32));
}

// The agent's config exactly as onboarding writes it and the agent reads it back.
function agentConfigFor(v: Vault, nodeId: string) {
  const written = buildAgentConfig(nodeId, 7443, agentPaths('/home/u'), '/run/podman.sock', 'supervisor', ensureNodeSecretsKey(v, nodeId));
  return validateAgentConfig(JSON.parse(JSON.stringify(written)), '/home/u/.local/share/podploy/agent/config.json');
}

describe('node seal: control plane seals, the agent opens', () => {
  it('round-trips through the key onboarding writes into the agent config, without the plain text in the ciphertext', () => {
    const v = vault();
    const config = agentConfigFor(v, 'node-a');
    const plain = Buffer.from(JSON.stringify({ DB_PASSWORD: 'pp-secret-0123456789' }));
    const sealed = sealForNode({ vault: v }, 'node-a', plain);
    expect(Buffer.from(sealed).includes(plain)).toBe(false);
    expect(Buffer.from(sealed).includes(Buffer.from('pp-secret'))).toBe(false);
    expect(Buffer.from(openSealed(config, sealed))).toEqual(plain);
  });

  it('keeps the same key across re-onboarding and gives each node its own', () => {
    const v = vault();
    expect(ensureNodeSecretsKey(v, 'node-a')).toEqual(ensureNodeSecretsKey(v, 'node-a'));
    expect(ensureNodeSecretsKey(v, 'node-a')).not.toEqual(ensureNodeSecretsKey(v, 'node-b'));
  });

  it('detects altered bytes, truncation, another node and another key', () => {
    const v = vault();
    const a = agentConfigFor(v, 'node-a');
    const b = agentConfigFor(v, 'node-b');
    const sealed = Buffer.from(sealForNode({ vault: v }, 'node-a', Buffer.from('hello')));
    const altered = Buffer.from(sealed);
    altered[altered.length - 5] ^= 1;
    expect(() => openSealed(a, altered)).toThrow(/altered/);
    expect(() => openSealed(a, sealed.subarray(0, 20))).toThrow(/malformed/);
    expect(() => openSealed(b, sealed)).toThrow(/cannot open/);
    // Node b's key with node a's id: the key is wrong.
    expect(() => openSealed({ nodeId: 'node-a', secretsKey: b.secretsKey }, sealed)).toThrow(/cannot open/);
  });

  it('refuses to seal for a node onboarded before secrets existed, telling the operator to re-onboard', () => {
    let err: unknown;
    try {
      sealForNode({ vault: vault() }, 'old-node', Buffer.from('x'));
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toMatch(/node old-node has no secrets key/);
    expect((err as { hint?: string }).hint).toMatch(/podploy node add/);
  });

  it("the agent without a key in its config says to re-onboard; a malformed key is refused when the config loads", () => {
    expect(() => openSealed({ nodeId: 'n1' }, Buffer.alloc(64))).toThrow(/no secrets key[\s\S]*podploy node add/);
    const base = { nodeId: 'n', listenHost: '127.0.0.1', listenPort: 7443, tlsDir: 't', stateDir: 's', runDir: 'r', logDir: 'l', podmanSocket: 'p', manageJobs: [] };
    expect(() => validateAgentConfig({ ...base, secretsKey: 'c2hvcnQ=' }, '/x/config.json')).toThrow(/secretsKey must be 32 bytes/);
  });
});
