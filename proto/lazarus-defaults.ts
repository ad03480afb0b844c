// Lazarus's defaults and rules: how an app's live container is restarted and probed. Pure: the
// control plane's AppSpec, the UI and the agent read these, so a default is written once.

export const RESTART_DEFAULTS = {
  // The first restart happens at once; the second waits initialBackoffMs, each next one twice
  // the previous, up to maxBackoffMs.
  initialBackoffMs: 1_000,
  maxBackoffMs: 5 * 60_000,
  // Each wait is drawn from +-jitter around its nominal value.
  jitter: 0.2,
  // Running this long without dying or failing a probe resets the back-off (and ends a crash loop).
  resetAfterMs: 10 * 60_000,
  // This many restarts within the window mark the app crash-looping; it keeps retrying at the cap.
  crashLoopRestarts: 5,
  crashLoopWindowMs: 10 * 60_000,
} as const;
export const RESTART_BACKOFF_FACTOR = 2;

export type RestartPolicySettings = { -readonly [K in keyof typeof RESTART_DEFAULTS]: number };

export const LIVENESS_KINDS = ['http', 'tcp', 'exec'] as const;
export type LivenessKind = (typeof LIVENESS_KINDS)[number];

export const LIVENESS_DEFAULTS = {
  path: '/health',
  statusMin: 200,
  statusMax: 399,
  intervalMs: 10_000,
  timeoutMs: 2_000,
  failureThreshold: 3,
  initialDelayMs: 5_000,
} as const;

export interface LivenessSettings {
  kind: LivenessKind;
  path: string;
  statusMin: number;
  statusMax: number;
  command: string[];
  intervalMs: number;
  timeoutMs: number;
  failureThreshold: number;
  initialDelayMs: number;
}

// The bounds both sides enforce (the control plane before it stores a spec, the agent before it
// obeys a command), so malformed settings are refused with the same words everywhere.
export const LAZARUS_LIMITS = {
  backoffMs: { min: 0, max: 3_600_000 },
  jitter: { min: 0, max: 1 },
  resetAfterMs: { min: 1_000, max: 86_400_000 },
  crashLoopRestarts: { min: 1, max: 1_000 },
  crashLoopWindowMs: { min: 1_000, max: 86_400_000 },
  probeIntervalMs: { min: 100, max: 3_600_000 },
  probeTimeoutMs: { min: 50, max: 600_000 },
  failureThreshold: { min: 1, max: 100 },
  initialDelayMs: { min: 0, max: 3_600_000 },
  status: { min: 100, max: 599 },
} as const;

function inRange(problems: string[], name: string, value: number, { min, max }: { min: number; max: number }, integer = true): void {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    problems.push(`${name} must be ${integer ? 'a whole number ' : ''}from ${min} to ${max} (got ${String(value)})`);
  }
}

// Every problem of a complete restart policy, in words an operator can act on; empty: valid.
export function restartPolicyProblems(p: RestartPolicySettings): string[] {
  const problems: string[] = [];
  const L = LAZARUS_LIMITS;
  inRange(problems, 'restart initialBackoffMs', p.initialBackoffMs, L.backoffMs);
  inRange(problems, 'restart maxBackoffMs', p.maxBackoffMs, L.backoffMs);
  inRange(problems, 'restart jitter', p.jitter, L.jitter, false);
  inRange(problems, 'restart resetAfterMs', p.resetAfterMs, L.resetAfterMs);
  inRange(problems, 'restart crashLoopRestarts', p.crashLoopRestarts, L.crashLoopRestarts);
  inRange(problems, 'restart crashLoopWindowMs', p.crashLoopWindowMs, L.crashLoopWindowMs);
  if (problems.length === 0 && p.maxBackoffMs < p.initialBackoffMs) problems.push('restart maxBackoffMs must not be below initialBackoffMs');
  return problems;
}

// Every problem of a complete liveness probe; empty: valid.
export function livenessProblems(p: LivenessSettings): string[] {
  const problems: string[] = [];
  const L = LAZARUS_LIMITS;
  if (!LIVENESS_KINDS.includes(p.kind)) problems.push(`liveness kind must be one of ${LIVENESS_KINDS.join(', ')} (got "${p.kind}")`);
  if (p.kind === 'http') {
    if (typeof p.path !== 'string' || !p.path.startsWith('/')) problems.push(`liveness path must start with / (got "${p.path}")`);
    inRange(problems, 'liveness statusMin', p.statusMin, L.status);
    inRange(problems, 'liveness statusMax', p.statusMax, L.status);
    if (p.statusMin > p.statusMax) problems.push(`liveness status range ${p.statusMin}-${p.statusMax} is empty`);
  }
  if (p.kind === 'exec' && (!Array.isArray(p.command) || p.command.length === 0 || p.command.some((a) => typeof a !== 'string' || a === ''))) {
    problems.push('an exec liveness probe needs a command (argv, no empty words)');
  }
  inRange(problems, 'liveness intervalMs', p.intervalMs, L.probeIntervalMs);
  inRange(problems, 'liveness timeoutMs', p.timeoutMs, L.probeTimeoutMs);
  inRange(problems, 'liveness failureThreshold', p.failureThreshold, L.failureThreshold);
  inRange(problems, 'liveness initialDelayMs', p.initialDelayMs, L.initialDelayMs);
  if (problems.length === 0 && p.timeoutMs > p.intervalMs) problems.push('liveness timeoutMs must not exceed intervalMs');
  return problems;
}

// "200-399" or "200" -> [min, max]; throws with the expected form.
export function parseStatusRange(text: string): [number, number] {
  const m = /^(\d{3})(?:-(\d{3}))?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a status range: write e.g. 200-399 or 204`);
  const min = Number(m[1]);
  const max = Number(m[2] ?? m[1]);
  return [min, max];
}
