// The node's Caddy as a child of the agent: `caddy run --config FILE`, its admin API on a unix
// socket, restarted with back-off when it dies. After every start, once the admin API answers,
// `onReady` runs (the runtime re-applies its config there with loadIfChanged).
import { lstatSync, mkdirSync, rmSync } from 'node:fs';
import { CADDY_FALLBACK_BINARY } from '../../proto/agent-config';
import type { Logger } from '../logger';
import { resolveExecutable, SupervisedChild } from '../supervisor/child-process';
import type { BackoffPolicy } from '../supervisor/restart-backoff';
import { CaddyAdmin, CaddyAdminError } from './caddy-admin';

// How often the admin API is asked whether Caddy is up after a start.
export const CADDY_READY_POLL_MS = 50;
// How long a caller (ensureApp) waits for Caddy to come up before it gives up.
export const CADDY_READY_DEADLINE_MS = 15_000;
// SIGTERM, then SIGKILL after this.
export const CADDY_STOP_TIMEOUT_MS = 5_000;

export interface CaddyProcessOptions {
  // A name looked up in PATH, or a path.
  binary: string;
  configFile: string;
  adminSocket: string;
  pidFile: string;
  // XDG_CONFIG_HOME / XDG_DATA_HOME for Caddy (certificates, autosave): inside the agent's state.
  dataDir: string;
  // Caddy's own log (its stderr), appended.
  logFile: string;
  log: Logger;
  onReady: (admin: CaddyAdmin) => Promise<void>;
  backoff?: BackoffPolicy;
}

// PATH lookup of `name`, then CADDY_FALLBACK_BINARY; a path is taken as it is.
export function resolveCaddyBinary(binary: string, pathEnv = process.env.PATH ?? ''): string | undefined {
  return resolveExecutable(binary, pathEnv, [CADDY_FALLBACK_BINARY]);
}

// A Caddy left over by an agent that was killed is stopped before the first start: it would hold
// the admin socket and the HTTP port.
export class CaddyProcess extends SupervisedChild {
  readonly admin: CaddyAdmin;

  constructor(opts: CaddyProcessOptions) {
    const admin = new CaddyAdmin({ socketPath: opts.adminSocket });
    super({
      event: 'caddy',
      name: 'caddy',
      title: 'Caddy',
      binary: opts.binary,
      resolveBinary: resolveCaddyBinary,
      missingMessage: `no caddy executable: "${opts.binary}" is not in PATH and ${CADDY_FALLBACK_BINARY} does not exist; install Debian's caddy package or set caddyBinary in the agent config`,
      args: ['run', '--config', opts.configFile],
      env: { ...process.env, XDG_CONFIG_HOME: opts.dataDir, XDG_DATA_HOME: opts.dataDir },
      pidFile: opts.pidFile,
      marker: opts.configFile,
      logFile: opts.logFile,
      log: opts.log,
      startedFields: { adminSocket: opts.adminSocket },
      prepare: () => mkdirSync(opts.dataDir, { recursive: true }),
      beforeSpawn: () => removeStaleSocket(opts.adminSocket),
      probe: async () => {
        try {
          await admin.getConfigText();
          return true;
        } catch (err) {
          if (err instanceof CaddyAdminError && err.statusCode !== undefined) throw err;
          return false;
        }
      },
      pollMs: CADDY_READY_POLL_MS,
      notAnswering: 'its admin API did not answer',
      onReady: async () => {
        try {
          await opts.onReady(admin);
        } catch (err) {
          const why = `applying the ingress config failed: ${(err as Error).message}`;
          opts.log.error({ event: 'caddy_config_failed', err: (err as Error).message }, why);
          throw new Error(why);
        }
      },
      readyDeadlineMs: CADDY_READY_DEADLINE_MS,
      stopTimeoutMs: CADDY_STOP_TIMEOUT_MS,
      backoff: opts.backoff,
    });
    this.admin = admin;
  }
}

function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) rmSync(path);
  } catch {
    // absent
  }
}
