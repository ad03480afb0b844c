// `podploy app update NAME`: changes some of an app's configuration; the next deploy applies it.
import type { Command } from 'commander';
import { ApiError, AppSpec, parseEnvPairs, type AppSummary } from '../api/contract';
import type { Connection } from './api-connection';
import { formatAppInfo } from './format';
import { addLazarusOptions, applyLazarusFlags, hasLazarusFlags, type LazarusFlags } from './lazarus-flags';

export interface AppUpdateFlags extends LazarusFlags {
  port?: number;
  health?: string;
  domain: string[];
  env: string[];
  unsetEnv: string[];
  json?: boolean;
}

// The current spec with the flags applied: --domain replaces the list, --env sets keys (others
// stay), --unset-env removes keys, --liveness*/--restart* as lazarus-flags.ts says. Throws an
// ApiError naming the bad flag; pure.
export function applyUpdateFlags(current: AppSpec, f: AppUpdateFlags): AppSpec {
  if (f.port === undefined && f.health === undefined && !f.domain.length && !f.env.length && !f.unsetEnv.length && !hasLazarusFlags(f)) {
    throw new ApiError('invalid_input', 'nothing to update', 'pass --port, --health, --domain, --env, --unset-env, or a --liveness/--restart flag');
  }
  const lazarus = applyLazarusFlags({ restart: current.restart, liveness: current.liveness }, f);
  let set: Record<string, string> = {};
  try {
    set = parseEnvPairs(f.env);
  } catch (err) {
    throw new ApiError('invalid_input', `--env ${(err as Error).message}`);
  }
  const env = { ...current.env, ...set };
  for (const k of f.unsetEnv) {
    if (!(k in env)) throw new ApiError('invalid_input', `--unset-env ${k}: the app has no such environment key`, `its keys: ${Object.keys(current.env).join(', ') || 'none'}`);
    delete env[k];
  }
  const { liveness: _dropped, ...rest } = current;
  const next = {
    ...rest,
    restart: lazarus.restart,
    ...(lazarus.liveness ? { liveness: lazarus.liveness } : {}),
    env,
    ...(f.port !== undefined ? { port: f.port } : {}),
    ...(f.domain.length ? { domains: f.domain } : {}),
    ...(f.health !== undefined ? { health: { ...current.health, kind: 'http' as const, path: f.health } } : {}),
  };
  const parsed = AppSpec.safeParse(next);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = ({ port: '--port', health: '--health', domains: '--domain', env: '--env' } as Record<string, string>)[String(issue.path[0])] ?? String(issue.path[0]);
    throw new ApiError('invalid_input', `${flag}: ${issue.message}`, 'nothing was changed');
  }
  return parsed.data;
}

export interface CliHelpers {
  withApi(fn: (c: Connection) => Promise<void>): Promise<void>;
  print(value: unknown): void;
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerAppUpdateCommand(app: Command, h: CliHelpers): void {
  const update = app
    .command('update')
    .description("change an app's configuration; the next deploy applies it")
    .argument('<name>')
    .option('--port <port>', 'the port the container listens on', (v) => Number(v))
    .option('--health <path>', 'HTTP health check path')
    .option('--domain <domain>', 'the domains routed to the app, replacing the current ones (repeatable)', collect, [])
    .option('--env <KEY=VALUE>', 'set an environment variable; other keys stay (repeatable)', collect, [])
    .option('--unset-env <KEY>', 'remove an environment variable (repeatable)', collect, []);
  addLazarusOptions(update)
    .option('--json', 'print JSON')
    .action(async (name: string, f: AppUpdateFlags) =>
      h.withApi(async ({ client }) => {
        const current = await client.call('apps.get', { name });
        const spec = applyUpdateFlags(current.spec, f);
        const a: AppSummary = await client.call('apps.update', { name, spec });
        if (f.json) h.print(a);
        else process.stdout.write(`updated app ${a.name}; the next deploy applies it: podploy deploy ${a.name}\n\n${formatAppInfo(a)}`);
      }),
    );
}
