// The defaults of an app's health check and deploy. Pure: the control plane's AppSpec, the UI
// and the agent's deploy all read these, so a default is written once.
export const HEALTH_DEFAULTS = {
  path: '/health',
  intervalMs: 1_000,
  timeoutMs: 5_000,
  healthyThreshold: 1,
  unhealthyThreshold: 3,
  startPeriodMs: 0,
  deadlineMs: 60_000,
} as const;

export const DEPLOY_DEFAULTS = {
  port: 8080,
  stopGraceMs: 10_000,
  drainMs: 30_000,
  keepReleases: 5,
} as const;
