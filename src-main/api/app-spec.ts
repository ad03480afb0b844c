// An app's configuration, as the operator declares it. Pure (zod only): the UI shows these
// defaults, the CLI and the API validate with the same schema, and a release freezes one copy.
import { z } from 'zod';

import { DEPLOY_DEFAULTS, HEALTH_DEFAULTS } from '../../proto/deploy-defaults';
import { LIVENESS_DEFAULTS, LIVENESS_KINDS, livenessProblems, RESTART_DEFAULTS, restartPolicyProblems } from '../../proto/lazarus-defaults';

export { DEPLOY_DEFAULTS, HEALTH_DEFAULTS, LIVENESS_DEFAULTS, RESTART_DEFAULTS };

const RESERVED_ENV = /^PODPLOY_/;

export const AppName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/, 'an app name is 1-40 lowercase letters, digits or dashes, not starting or ending with a dash');

export const EnvKey = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment key is letters, digits and underscores, not starting with a digit')
  .refine((k) => !RESERVED_ENV.test(k), 'environment keys starting with PODPLOY_ are reserved');

// zod reports a bad record key only as "Invalid key in record"; this names what is wrong.
export const EnvMap = z.record(z.string(), z.string()).superRefine((env, ctx) => {
  for (const key of Object.keys(env)) {
    const r = EnvKey.safeParse(key);
    if (!r.success) ctx.addIssue({ code: 'custom', path: [key], message: r.error.issues[0].message });
  }
});

export const Domain = z
  .string()
  .toLowerCase()
  .regex(/^(?=.{1,253}$)(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'not a valid domain name');

// An image reference: [registry[:port]/]path[:tag][@sha256:digest].
export const ImageRef = z
  .string()
  .regex(
    /^(?:[a-z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/,
    'not a valid image reference (e.g. docker.io/library/nginx:1.27 or localhost/app:v2)',
  );

export const AppSource = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('image'), image: ImageRef }),
  z.object({
    kind: z.literal('git'),
    url: z.string().min(1).refine((u) => /^(https?:\/\/|ssh:\/\/|git@|file:\/\/|\/)/.test(u), 'a git URL is https://, ssh://, git@host:path, file:// or an absolute path'),
    ref: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9._/-]*$/, 'a git ref is a branch, tag or commit: letters, digits, . _ - /, not starting with - or .')
      .refine((r) => !r.includes('..') && !r.endsWith('/') && !r.endsWith('.lock') && r.length <= 255, 'not a valid git ref')
      .default('main'),
    // A path inside the repository; the node falls back to Dockerfile when the default is missing.
    containerfile: z
      .string()
      .min(1)
      .refine((p) => !p.startsWith('/') && !p.startsWith('-') && !p.split('/').includes('..'), 'the Containerfile path is relative to the repository, without ..')
      .default('Containerfile'),
  }),
]);

export const HealthCheck = z
  .object({
    kind: z.enum(['http', 'tcp']).default('http'),
    path: z.string().startsWith('/', 'a health path starts with /').default(HEALTH_DEFAULTS.path),
    intervalMs: z.number().int().min(100).max(60_000).default(HEALTH_DEFAULTS.intervalMs),
    timeoutMs: z.number().int().min(100).max(60_000).default(HEALTH_DEFAULTS.timeoutMs),
    healthyThreshold: z.number().int().min(1).max(10).default(HEALTH_DEFAULTS.healthyThreshold),
    unhealthyThreshold: z.number().int().min(1).max(10).default(HEALTH_DEFAULTS.unhealthyThreshold),
    startPeriodMs: z.number().int().min(0).max(600_000).default(HEALTH_DEFAULTS.startPeriodMs),
    deadlineMs: z.number().int().min(1_000).max(1_800_000).default(HEALTH_DEFAULTS.deadlineMs),
  })
  .refine((h) => h.timeoutMs <= h.deadlineMs, { message: 'the health timeout must not exceed the deadline', path: ['timeoutMs'] });

// How Lazarus restarts the app's live container (defaults: proto/lazarus-defaults.ts). The
// bounds are the agent's own (restartPolicyProblems), so both sides refuse the same settings.
export const RestartPolicy = z
  .object({
    initialBackoffMs: z.number().default(RESTART_DEFAULTS.initialBackoffMs),
    maxBackoffMs: z.number().default(RESTART_DEFAULTS.maxBackoffMs),
    jitter: z.number().default(RESTART_DEFAULTS.jitter),
    resetAfterMs: z.number().default(RESTART_DEFAULTS.resetAfterMs),
    crashLoopRestarts: z.number().default(RESTART_DEFAULTS.crashLoopRestarts),
    crashLoopWindowMs: z.number().default(RESTART_DEFAULTS.crashLoopWindowMs),
  })
  .strict()
  .superRefine((p, ctx) => {
    for (const message of restartPolicyProblems(p)) ctx.addIssue({ code: 'custom', message });
  });

// A liveness probe: a container failing it failureThreshold times in a row is restarted.
export const LivenessProbe = z
  .object({
    kind: z.enum(LIVENESS_KINDS),
    path: z.string().default(LIVENESS_DEFAULTS.path),
    statusMin: z.number().default(LIVENESS_DEFAULTS.statusMin),
    statusMax: z.number().default(LIVENESS_DEFAULTS.statusMax),
    command: z.array(z.string()).default([]),
    intervalMs: z.number().default(LIVENESS_DEFAULTS.intervalMs),
    timeoutMs: z.number().default(LIVENESS_DEFAULTS.timeoutMs),
    failureThreshold: z.number().default(LIVENESS_DEFAULTS.failureThreshold),
    initialDelayMs: z.number().default(LIVENESS_DEFAULTS.initialDelayMs),
  })
  .strict()
  .superRefine((p, ctx) => {
    for (const message of livenessProblems(p)) ctx.addIssue({ code: 'custom', message });
  });

export const Volume = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'a volume name is lowercase letters, digits, dots, dashes and underscores'),
  path: z.string().startsWith('/', 'a mount path is absolute'),
});

const Volumes = z
  .array(Volume)
  .refine((vs) => new Set(vs.map((v) => v.path)).size === vs.length, 'two volumes are mounted at the same path')
  .refine((vs) => new Set(vs.map((v) => v.name)).size === vs.length, 'a volume is listed twice');

export const AppSpec = z.object({
  name: AppName,
  node: z.string().min(1),
  source: AppSource,
  command: z.array(z.string()).default([]),
  env: EnvMap.default({}),
  port: z.number().int().min(1).max(65_535).default(DEPLOY_DEFAULTS.port),
  domains: z.array(Domain).default([]),
  volumes: Volumes.default([]),
  health: HealthCheck.default(HealthCheck.parse({})),
  cpus: z.number().positive().max(256).optional(),
  memoryMb: z.number().int().min(6).max(1_048_576).optional(),
  stopGraceMs: z.number().int().min(0).max(600_000).default(DEPLOY_DEFAULTS.stopGraceMs),
  drainMs: z.number().int().min(0).max(600_000).default(DEPLOY_DEFAULTS.drainMs),
  keepReleases: z.number().int().min(1).max(100).default(DEPLOY_DEFAULTS.keepReleases),
  restart: RestartPolicy.default(RestartPolicy.parse({})),
  // Absent: no liveness probe (a dead container is still restarted).
  liveness: LivenessProbe.optional(),
});
export type AppSpec = z.output<typeof AppSpec>;
export type AppSpecInput = z.input<typeof AppSpec>;

// Parses KEY=VALUE pairs (CLI flags, pasted text) into an env map, naming the bad entry.
export function parseEnvPairs(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i < 1) throw new Error(`'${p}' is not KEY=VALUE`);
    const key = p.slice(0, i);
    const checked = EnvKey.safeParse(key);
    if (!checked.success) throw new Error(`'${key}': ${checked.error.issues[0].message}`);
    env[key] = p.slice(i + 1);
  }
  return env;
}

// `NAME:/PATH` flags (podploy app create --volume) as the spec's volumes; the spec checks names and paths.
export function parseVolumeFlags(flags: string[]): { name: string; path: string }[] {
  return flags.map((f) => {
    const i = f.indexOf(':');
    if (i < 1 || i === f.length - 1) throw new Error(`'${f}' is not NAME:/PATH (e.g. data:/var/lib/app)`);
    return { name: f.slice(0, i), path: f.slice(i + 1) };
  });
}
