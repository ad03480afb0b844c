// The node's Caddy as a child of the agent: `caddy run --config FILE`, its admin API on a unix
// socket, restarted with back-off when it dies. After every start, once the admin API answers,
// `onReady` runs (the runtime re-applies its config there with loadIfChanged).
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, createWriteStream, lstatSync, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { CADDY_FALLBACK_BINARY } from '../../proto/agent-config';
import type { Logger } from '../logger';
import { livePidFromFile, removePid, writePid, isAlive } from '../supervisor/pid-files';
import { DEFAULT_BACKOFF, nextRestartDelay, type BackoffPolicy } from '../supervisor/restart-backoff';
import { CaddyAdmin, CaddyAdminError } from './caddy-admin';

// How often the admin API is asked whether Caddy is up after a start.
export const CADDY_READY_POLL_MS = 50;
// How long a caller (ensureApp) waits for Caddy to come up before it gives up.
export const CADDY_READY_DEADLINE_MS = 15_000;
// SIGTERM, then SIGKILL after this.
export const CADDY_STOP_TIMEOUT_MS = 5_000;
const STDERR_TAIL_CHARS = 2_000;

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
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (binary.includes('/')) return executable(binary) ? binary : undefined;
  for (const dir of pathEnv.split(delimiter).filter((d) => isAbsolute(d))) {
    const candidate = join(dir, binary);
    if (executable(candidate)) return candidate;
  }
  return executable(CADDY_FALLBACK_BINARY) ? CADDY_FALLBACK_BINARY : undefined;
}

export class CaddyProcess {
  readonly admin: CaddyAdmin;
  private child: ChildProcess | null = null;
  private generation = 0;
  private ready = false;
  private stopping = false;
  private started = false;
  private lastDelay: number | null = null;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private waiters: Array<() => void> = [];
  private tail = '';
  private lastError = '';
  private logStream: WriteStream | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly opts: CaddyProcessOptions) {
    this.admin = new CaddyAdmin({ socketPath: opts.adminSocket });
  }

  get running(): boolean {
    return this.started && !this.stopping;
  }

  get isReady(): boolean {
    return this.ready;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  // Starts Caddy (once; later calls do nothing). A Caddy left over by an agent that was killed
  // is stopped first: it would hold the admin socket and the HTTP port.
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    mkdirSync(dirname(this.opts.pidFile), { recursive: true });
    mkdirSync(this.opts.dataDir, { recursive: true });
    mkdirSync(dirname(this.opts.logFile), { recursive: true });
    this.logStream = createWriteStream(this.opts.logFile, { flags: 'a' });
    await stopLeftover(this.opts.pidFile, this.opts.configFile, this.opts.log);
    this.spawnOnce();
  }

  // Resolves once Caddy answers on its admin API and onReady ran; throws after the deadline with
  // what Caddy said.
  async waitReady(deadlineMs = CADDY_READY_DEADLINE_MS): Promise<void> {
    if (this.ready) return;
    if (!this.started) throw new Error('Caddy is not started');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, deadlineMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
    if (!this.ready) {
      const why = this.lastError || 'its admin API did not answer';
      throw new Error(`Caddy (${this.opts.binary}) is not up after ${deadlineMs} ms: ${why}${this.tail ? `; Caddy said: ${lastLines(this.tail)}` : ''}`);
    }
  }

  async stop(timeoutMs = CADDY_STOP_TIMEOUT_MS): Promise<void> {
    this.stopping = true;
    this.ready = false;
    clearTimeout(this.restartTimer);
    for (const wake of this.waiters.splice(0)) wake();
    const child = this.child;
    if (child) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await this.exited;
      clearTimeout(killer);
    }
    removePid(this.opts.pidFile);
    await new Promise<void>((resolve) => (this.logStream ? this.logStream.end(resolve) : resolve()));
  }

  private spawnOnce(): void {
    if (this.stopping) return;
    const { log } = this.opts;
    const generation = ++this.generation;
    this.ready = false;
    const binary = resolveCaddyBinary(this.opts.binary);
    if (!binary) {
      this.lastError = `no caddy executable: "${this.opts.binary}" is not in PATH and ${CADDY_FALLBACK_BINARY} does not exist; install Debian's caddy package or set caddyBinary in the agent config`;
      log.error({ event: 'caddy_missing', binary: this.opts.binary }, this.lastError);
      this.scheduleRestart(0);
      return;
    }
    removeStaleSocket(this.opts.adminSocket);
    const env = { ...process.env, XDG_CONFIG_HOME: this.opts.dataDir, XDG_DATA_HOME: this.opts.dataDir };
    const child = spawn(binary, ['run', '--config', this.opts.configFile], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.startedAt = Date.now();
    child.stderr?.on('data', (c: Buffer) => {
      this.logStream?.write(c);
      this.tail = (this.tail + c.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    let done = false;
    this.exited = new Promise((resolve) => {
      const onEnd = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
        if (done) return;
        done = true;
        if (this.child === child) this.child = null;
        removePid(this.opts.pidFile);
        resolve();
        if (generation !== this.generation) return;
        this.ready = false;
        if (this.stopping) {
          log.info({ event: 'caddy_stopped', code, signal }, 'caddy stopped');
          return;
        }
        this.lastError = err ? `cannot run ${binary}: ${err.message}` : `caddy exited (code ${code}, signal ${signal})`;
        this.scheduleRestart(Date.now() - this.startedAt);
      };
      child.once('error', (err) => onEnd(null, null, err));
      child.once('exit', (code, signal) => onEnd(code, signal));
    });
    if (child.pid !== undefined) {
      writePid(this.opts.pidFile, child.pid);
      log.info({ event: 'caddy_started', childPid: child.pid, binary, adminSocket: this.opts.adminSocket }, 'caddy started');
    }
    void this.probe(generation, child);
  }

  private scheduleRestart(uptimeMs: number): void {
    const delayMs = nextRestartDelay(this.lastDelay, uptimeMs, this.opts.backoff ?? DEFAULT_BACKOFF);
    this.lastDelay = delayMs;
    this.opts.log.warn({ event: 'caddy_exited', uptimeMs, restartInMs: delayMs, reason: this.lastError, stderr: lastLines(this.tail) }, `caddy is down; restarting in ${delayMs} ms`);
    this.restartTimer = setTimeout(() => this.spawnOnce(), delayMs);
  }

  // Polls the admin API until it answers (or this child is gone), then runs onReady.
  private async probe(generation: number, child: ChildProcess): Promise<void> {
    const current = () => generation === this.generation && !this.stopping && this.child === child;
    while (current()) {
      try {
        await this.admin.getConfigText();
        break;
      } catch (err) {
        if (err instanceof CaddyAdminError && err.statusCode !== undefined) {
          this.lastError = err.message;
          break;
        }
        await new Promise((r) => setTimeout(r, CADDY_READY_POLL_MS));
      }
    }
    if (!current()) return;
    try {
      await this.opts.onReady(this.admin);
      this.lastError = '';
    } catch (err) {
      this.lastError = `applying the ingress config failed: ${(err as Error).message}`;
      this.opts.log.error({ event: 'caddy_config_failed', err: (err as Error).message }, this.lastError);
    }
    if (!current()) return;
    this.ready = true;
    this.opts.log.info({ event: 'caddy_ready', childPid: child.pid, ms: Date.now() - this.startedAt }, 'caddy ready');
    for (const wake of this.waiters.splice(0)) wake();
  }
}

function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) rmSync(path);
  } catch {
    // absent
  }
}

async function stopLeftover(pidFile: string, marker: string, log: Logger): Promise<void> {
  const pid = livePidFromFile(pidFile, marker);
  if (pid !== null) {
    log.info({ event: 'caddy_leftover_stopped', leftoverPid: pid }, 'stopping a Caddy left over by an earlier agent');
    process.kill(pid, 'SIGTERM');
    const until = Date.now() + CADDY_STOP_TIMEOUT_MS;
    while (isAlive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  removePid(pidFile);
}

function lastLines(text: string, n = 3): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}
