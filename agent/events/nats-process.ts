// The node's nats-server as a child of the agent: `nats-server -c FILE` with the config the agent
// writes (nats-config.ts), restarted with back-off when it dies. Ready means its client port
// answers with the server's INFO line.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, createWriteStream, mkdirSync, renameSync, writeFileSync, type WriteStream } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { AGENT_PID_FILES, DEFAULT_NATS_BINARY, type AgentConfig, type AgentNatsConfig } from '../../proto/agent-config';
import type { Logger } from '../logger';
import { isAlive, livePidFromFile, removePid, writePid } from '../supervisor/pid-files';
import { DEFAULT_BACKOFF, nextRestartDelay, type BackoffPolicy } from '../supervisor/restart-backoff';
import { agentPublicKey, checkUserPublicKey, natsPortOf, natsServerConfig, streamLimitsOf } from './nats-config';

// Daemons install to sbin, which an ordinary user's PATH may lack.
export const NATS_FALLBACK_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/local/bin', '/usr/bin'];
export const NATS_DIR = 'nats';
export const NATS_CONFIG_FILE = 'nats-server.conf';
export const NATS_LOG_FILE = 'nats-server.log';
export const NATS_READY_POLL_MS = 50;
export const NATS_READY_DEADLINE_MS = 15_000;
// SIGTERM (nats-server then flushes its file store), then SIGKILL after this.
export const NATS_STOP_TIMEOUT_MS = 5_000;
const INFO_TIMEOUT_MS = 1_000;
const STDERR_TAIL_CHARS = 2_000;

export interface NatsProcessOptions {
  // A name looked up in PATH (then NATS_FALLBACK_DIRS), or a path.
  binary: string;
  port: number;
  configFile: string;
  configText: string;
  pidFile: string;
  // nats-server's own log (its stderr), appended.
  logFile: string;
  log: Logger;
  backoff?: BackoffPolicy;
}

// The NatsProcess options for an agent config: config and store under stateDir/nats, pid file in
// runDir, log in logDir. Throws when the nkeys in the config are unusable.
export function natsProcessOptions(config: Pick<AgentConfig, 'stateDir' | 'runDir' | 'logDir'>, nats: AgentNatsConfig, log: Logger): NatsProcessOptions {
  const dir = join(config.stateDir, NATS_DIR);
  const port = natsPortOf(nats);
  return {
    binary: nats.binary ?? DEFAULT_NATS_BINARY,
    port,
    configFile: join(dir, NATS_CONFIG_FILE),
    configText: natsServerConfig({
      port,
      storeDir: dir,
      agentPublicKey: agentPublicKey(nats.agentSeed),
      controlPlaneNkey: checkUserPublicKey(nats.controlPlaneNkey, 'nats.controlPlaneNkey in the agent config'),
      limits: streamLimitsOf(nats),
    }),
    pidFile: join(config.runDir, AGENT_PID_FILES.nats),
    logFile: join(config.logDir, NATS_LOG_FILE),
    log,
  };
}

export function resolveNatsBinary(binary: string, pathEnv = process.env.PATH ?? ''): string | undefined {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (binary.includes('/')) return executable(binary) ? binary : undefined;
  const dirs = [...pathEnv.split(delimiter).filter((d) => isAbsolute(d)), ...NATS_FALLBACK_DIRS];
  return dirs.map((d) => join(d, binary)).find(executable);
}

export class NatsProcess {
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

  constructor(private readonly opts: NatsProcessOptions) {}

  get isReady(): boolean {
    return this.ready;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  // Writes the config and starts nats-server (once; later calls do nothing). A nats-server left
  // over by an agent that was killed is stopped first: it holds the port and the store.
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    mkdirSync(dirname(this.opts.pidFile), { recursive: true });
    mkdirSync(dirname(this.opts.logFile), { recursive: true });
    writePrivateFile(this.opts.configFile, this.opts.configText);
    this.logStream = createWriteStream(this.opts.logFile, { flags: 'a' });
    await stopLeftover(this.opts.pidFile, this.opts.configFile, this.opts.log);
    this.spawnOnce();
  }

  // Resolves once nats-server answers on its port; throws after the deadline with what it said.
  async waitReady(deadlineMs = NATS_READY_DEADLINE_MS): Promise<void> {
    if (this.ready) return;
    if (!this.started) throw new Error('nats-server is not started');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, deadlineMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
    if (!this.ready) {
      const why = this.lastError || `nothing answered on 127.0.0.1:${this.opts.port}`;
      throw new Error(`nats-server (${this.opts.binary}) is not up after ${deadlineMs} ms: ${why}${this.tail ? `; nats-server said: ${lastLines(this.tail)}` : ''}`);
    }
  }

  async stop(timeoutMs = NATS_STOP_TIMEOUT_MS): Promise<void> {
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
    const binary = resolveNatsBinary(this.opts.binary);
    if (!binary) {
      this.lastError = `no nats-server executable: "${this.opts.binary}" is not in PATH nor in ${NATS_FALLBACK_DIRS.join(', ')}; install Debian's nats-server package (re-run onboarding) or set nats.binary in the agent config`;
      log.error({ event: 'nats_missing', binary: this.opts.binary }, this.lastError);
      this.scheduleRestart(0);
      return;
    }
    const child = spawn(binary, ['-c', this.opts.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
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
          log.info({ event: 'nats_stopped', code, signal }, 'nats-server stopped');
          return;
        }
        this.lastError = err ? `cannot run ${binary}: ${err.message}` : `nats-server exited (code ${code}, signal ${signal})`;
        this.scheduleRestart(Date.now() - this.startedAt);
      };
      child.once('error', (err) => onEnd(null, null, err));
      child.once('exit', (code, signal) => onEnd(code, signal));
    });
    if (child.pid !== undefined) {
      writePid(this.opts.pidFile, child.pid);
      log.info({ event: 'nats_started', childPid: child.pid, binary, port: this.opts.port }, 'nats-server started');
    }
    void this.probe(generation, child);
  }

  private scheduleRestart(uptimeMs: number): void {
    const delayMs = nextRestartDelay(this.lastDelay, uptimeMs, this.opts.backoff ?? DEFAULT_BACKOFF);
    this.lastDelay = delayMs;
    this.opts.log.warn({ event: 'nats_exited', uptimeMs, restartInMs: delayMs, reason: this.lastError, stderr: lastLines(this.tail) }, `nats-server is down; restarting in ${delayMs} ms`);
    this.restartTimer = setTimeout(() => this.spawnOnce(), delayMs);
  }

  private async probe(generation: number, child: ChildProcess): Promise<void> {
    const current = () => generation === this.generation && !this.stopping && this.child === child;
    while (current() && !(await answersInfo(this.opts.port))) await new Promise((r) => setTimeout(r, NATS_READY_POLL_MS));
    if (!current()) return;
    this.ready = true;
    this.lastError = '';
    this.opts.log.info({ event: 'nats_ready', childPid: child.pid, ms: Date.now() - this.startedAt }, 'nats-server ready');
    for (const wake of this.waiters.splice(0)) wake();
  }
}

// True when something on 127.0.0.1:port greets with a NATS INFO line.
export function answersInfo(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(INFO_TIMEOUT_MS, () => finish(false));
    socket.once('data', (c: Buffer) => finish(c.toString('latin1').startsWith('INFO ')));
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}

async function stopLeftover(pidFile: string, marker: string, log: Logger): Promise<void> {
  const pid = livePidFromFile(pidFile, marker);
  if (pid !== null) {
    log.info({ event: 'nats_leftover_stopped', leftoverPid: pid }, 'stopping a nats-server left over by an earlier agent');
    process.kill(pid, 'SIGTERM');
    const until = Date.now() + NATS_STOP_TIMEOUT_MS;
    while (isAlive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  removePid(pidFile);
}

// 0600 in a 0700 folder, replaced atomically.
function writePrivateFile(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  chmodSync(dirname(path), 0o700);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

function lastLines(text: string, n = 3): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}
