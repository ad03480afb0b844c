import { nkeys } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import type { AgentConfig } from '../../proto/agent-config';
import { STREAM_LIMITS } from '../../proto/node-events';
import { AgentConfigError, validateAgentConfig } from '../config';
import { streamLimitsOf } from './nats-config';

const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
const cp = nkeys.createUser().getPublicKey();
const base: AgentConfig = {
  nodeId: 'n1',
  listenHost: '127.0.0.1',
  listenPort: 7443,
  tlsDir: '/a/tls',
  stateDir: '/a/state',
  runDir: '/a/run',
  logDir: '/a/log',
  podmanSocket: '/a/run/podman.sock',
  manageJobs: [],
};

function problems(nats: unknown): string[] {
  try {
    validateAgentConfig({ ...base, nats }, '/a/config.json');
  } catch (err) {
    return (err as AgentConfigError).problems;
  }
  return [];
}

describe('the nats section of the agent config', () => {
  it('is optional, and kept with its overrides when present', () => {
    expect(validateAgentConfig(base, '/a/config.json').nats).toBeUndefined();
    const nats = { agentSeed: seed, controlPlaneNkey: cp, port: 15000, binary: 'bin/nats-server', eventsMaxMsgs: 1_000, eventsMaxBytes: 1_000_000 };
    expect(validateAgentConfig({ ...base, nats }, '/a/config.json').nats).toEqual({ ...nats, binary: '/a/bin/nats-server' });
    expect(streamLimitsOf(nats)).toMatchObject({ eventsMaxMsgs: 1_000, eventsMaxBytes: 1_000_000, metricsMaxMsgs: STREAM_LIMITS.metricsMaxMsgs });
    expect(streamLimitsOf({})).toMatchObject({ eventsMaxMsgs: STREAM_LIMITS.eventsMaxMsgs, eventsMaxBytes: STREAM_LIMITS.eventsMaxBytes });
  });

  it('names every bad field and says how to restore it', () => {
    expect(problems('yes')).toEqual(['nats must be an object with agentSeed and controlPlaneNkey (onboarding writes it; re-run `podploy node add` to restore it)']);
    expect(problems({})).toEqual([
      "nats.agentSeed must be the agent's nkey seed (SU...); re-run onboarding for this node to rewrite it",
      "nats.controlPlaneNkey must be the control plane's nkey public key (U...); re-run onboarding for this node to rewrite it",
    ]);
    const bad = problems({ agentSeed: 'SUbroken', controlPlaneNkey: seed, port: 0, binary: '', eventsMaxMsgs: -1, eventsMaxBytes: 1.5 });
    expect(bad[0]).toMatch(/^nats\.agentSeed in the agent config is not an nkey seed/);
    expect(bad.slice(1)).toEqual([
      `nats.controlPlaneNkey "${seed}" is not an nkey user public key (U...); re-run onboarding for this node to rewrite it`,
      'nats.port must be an integer from 1 to 65535',
      'nats.binary must be a non-empty string (a name in PATH or an absolute path)',
      'nats.eventsMaxMsgs must be a positive integer',
      'nats.eventsMaxBytes must be a positive integer',
    ]);
  });
});
