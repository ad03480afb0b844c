// The agent keeps its own copy of the deploy defaults (it must not import src-main); this test
// is the only place that reads both, and fails when they drift apart.
import { describe, expect, it } from 'vitest';
import { DEPLOY_DEFAULTS, HEALTH_DEFAULTS } from '../../src-main/api/app-spec';
import * as c from './constants';

describe('agent deploy defaults', () => {
  it('match the control plane AppSpec defaults', () => {
    expect({
      path: c.HEALTH_PATH,
      intervalMs: c.HEALTH_INTERVAL_MS,
      timeoutMs: c.HEALTH_TIMEOUT_MS,
      healthyThreshold: c.HEALTH_HEALTHY_THRESHOLD,
      unhealthyThreshold: c.HEALTH_UNHEALTHY_THRESHOLD,
      startPeriodMs: c.HEALTH_START_PERIOD_MS,
      deadlineMs: c.HEALTH_DEADLINE_MS,
    }).toEqual(HEALTH_DEFAULTS);
    expect({ port: c.CONTAINER_PORT, stopGraceMs: c.STOP_GRACE_MS, drainMs: c.DRAIN_MS }).toEqual({
      port: DEPLOY_DEFAULTS.port,
      stopGraceMs: DEPLOY_DEFAULTS.stopGraceMs,
      drainMs: DEPLOY_DEFAULTS.drainMs,
    });
  });
});
