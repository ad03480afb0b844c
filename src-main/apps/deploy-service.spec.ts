import { describe, expect, it } from 'vitest';
import { DeployApp } from '../../proto/gen/podploy/agent/v1/agent';
import { LIVENESS_DEFAULTS, RESTART_DEFAULTS } from '../../proto/lazarus-defaults';
import { AppSpec, type AppSpecInput } from '../api/contract';
import { toDeployApp } from './deploy-service';

const base: AppSpecInput = { name: 'web', node: 'n1', source: { kind: 'image', image: 'localhost/app:v1' } };
// What the agent receives: the message through its wire encoding.
const onWire = (spec: AppSpecInput) => DeployApp.decode(DeployApp.encode(toDeployApp('web', 'rel-1', 'localhost/app:v1', AppSpec.parse(spec))).finish());

describe('toDeployApp: restart policy and liveness probe on the wire', () => {
  it('sends the restart policy with every default explicit, and no liveness probe when none is set', () => {
    const m = onWire(base);
    expect(m.restart).toEqual({ ...RESTART_DEFAULTS });
    expect(m.liveness).toBeUndefined();
  });

  it('sends what the spec says: a tuned policy and an HTTP probe with its status range', () => {
    const m = onWire({
      ...base,
      restart: { initialBackoffMs: 500, maxBackoffMs: 60_000, jitter: 0.1, resetAfterMs: 120_000, crashLoopRestarts: 3, crashLoopWindowMs: 60_000 },
      liveness: { kind: 'http', path: '/healthz', statusMin: 200, statusMax: 204, intervalMs: 2_000, timeoutMs: 500, failureThreshold: 2, initialDelayMs: 1_000 },
    });
    expect(m.restart).toEqual({ initialBackoffMs: 500, maxBackoffMs: 60_000, jitter: 0.1, resetAfterMs: 120_000, crashLoopRestarts: 3, crashLoopWindowMs: 60_000 });
    expect(m.liveness).toEqual({ kind: 'http', path: '/healthz', statusMin: 200, statusMax: 204, command: [], intervalMs: 2_000, timeoutMs: 500, failureThreshold: 2, initialDelayMs: 1_000 });
  });

  it('an exec probe carries its argv and the probe defaults', () => {
    const m = onWire({ ...base, liveness: { kind: 'exec', command: ['cat', '/tmp/ok'] } });
    expect(m.liveness).toEqual({ ...LIVENESS_DEFAULTS, kind: 'exec', command: ['cat', '/tmp/ok'] });
  });

  it('a release frozen before Lazarus existed (no restart in its spec) deploys with the defaults', () => {
    const stored = JSON.parse(JSON.stringify(AppSpec.parse(base))) as Record<string, unknown>;
    delete stored.restart;
    const m = DeployApp.decode(DeployApp.encode(toDeployApp('web', 'rel-0', 'localhost/app:v0', AppSpec.parse(stored))).finish());
    expect(m.restart).toEqual({ ...RESTART_DEFAULTS });
  });
});
