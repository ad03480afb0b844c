export const RESTART_INITIAL_DELAY_MS = 250;
export const RESTART_MAX_DELAY_MS = 10_000;
// A child that ran this long before it died starts again from the initial delay.
export const HEALTHY_RESET_MS = 60_000;

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  healthyResetMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: RESTART_INITIAL_DELAY_MS,
  maxMs: RESTART_MAX_DELAY_MS,
  healthyResetMs: HEALTHY_RESET_MS,
};

// The wait before the next start, given the previous wait (null: first death) and how long the
// child ran.
export function nextRestartDelay(previousMs: number | null, uptimeMs: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  if (previousMs === null || uptimeMs >= policy.healthyResetMs) return policy.initialMs;
  return Math.min(policy.maxMs, previousMs * 2);
}
