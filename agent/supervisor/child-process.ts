// A daemon run as a child of the agent (Caddy, nats-server): its stderr appended to a log file,
// its pid in a pid file, restarted with back-off when it dies, ready once a probe answers after
// each start. A child left over by an agent that was killed is stopped before the first start.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import type { Logger } from '../logger';
import { isAlive, livePidFromFile, removePid, writePid } from './pid-files';
import { DEFAULT_BACKOFF, nextRestartDelay, type BackoffPolicy } from './restart-backoff';

const STDERR_TAIL_CHARS = 2_000;

export interface SupervisedChildOptions {
  // Log events are `${event}_started` and so on; log messages say `name`, errors say `title`.
  event: string;
  name: string;
  title: string;
  // As configured: a name or a path.
  binary: string;
  resolveBinary: (binary: string) => string | undefined;
  // The reason given when resolveBinary finds nothing.
  missingMessage: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  pidFile: string;
  // Tells a leftover child from a recycled pid: its command line contains this.
  marker: string;
  // The child's stderr, appended.
  logFile: string;
  log: Logger;
  // More fields for the `_started` log line.
  startedFields?: Record<string, unknown>;
  // Runs once, when start() is first called.
  prepare?: () => void;
  beforeSpawn?: () => void;
  // Polled every pollMs after each spawn until it returns true. A throw means the child answers
  // but something is wrong: polling stops and the error is the reason waitReady reports.
  probe: () => Promise<boolean>;
  pollMs: number;
  // waitReady's reason when the probe never answered.
  notAnswering: string;
  // Runs once the probe answered; a throw is kept as the reason, and the child is ready anyway.
  onReady?: () => Promise<void>;
  readyDeadlineMs: number;
  stopTimeoutMs: number;
  backoff?: BackoffPolicy;
}

// `binary` when it is a path; else the first executable `binary` in PATH's absolute folders,
// then the first executable of `fallbacks`.
export function resolveExecutable(binary: string, pathEnv: string, fallbacks: readonly string[]): string | undefined {
  const executable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (binary.includes('/')) return executable(binary) ? binary : undefined;
  const inPath = pathEnv.split(delimiter).filter((d) => isAbsolute(d)).map((d) => join(d, binary));
  return [...inPath, ...fallbacks].find(executable);
}

export class SupervisedChild {
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

  constructor(private readonly opts: SupervisedChildOptions) {}

  get running(): boolean {
    return this.started && !this.stopping;
  }

  get isReady(): boolean {
    return this.ready;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  // Once; later calls do nothing.
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    mkdirSync(dirname(this.opts.pidFile), { recursive: true });
    mkdirSync(dirname(this.opts.logFile), { recursive: true });
    this.opts.prepare?.();
    this.logStream = createWriteStream(this.opts.logFile, { flags: 'a' });
    await this.stopLeftover();
    this.spawnOnce();
  }

  // Resolves once the child is ready; throws after the deadline with what the child said.
  async waitReady(deadlineMs = this.opts.readyDeadlineMs): Promise<void> {
    const { title } = this.opts;
    if (this.ready) return;
    if (!this.started) throw new Error(`${title} is not started`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, deadlineMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push(done);
    });
    if (!this.ready) {
      const why = this.lastError || this.opts.notAnswering;
      throw new Error(`${title} (${this.opts.binary}) is not up after ${deadlineMs} ms: ${why}${this.tail ? `; ${title} said: ${lastLines(this.tail)}` : ''}`);
    }
  }

  // SIGTERM, then SIGKILL after timeoutMs.
  async stop(timeoutMs = this.opts.stopTimeoutMs): Promise<void> {
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
    const { log, event, name } = this.opts;
    const generation = ++this.generation;
    this.ready = false;
    const binary = this.opts.resolveBinary(this.opts.binary);
    if (!binary) {
      this.lastError = this.opts.missingMessage;
      log.error({ event: `${event}_missing`, binary: this.opts.binary }, this.lastError);
      this.scheduleRestart(0);
      return;
    }
    this.opts.beforeSpawn?.();
    const child = spawn(binary, this.opts.args, { env: this.opts.env, stdio: ['ignore', 'ignore', 'pipe'] });
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
          log.info({ event: `${event}_stopped`, code, signal }, `${name} stopped`);
          return;
        }
        this.lastError = err ? `cannot run ${binary}: ${err.message}` : `${name} exited (code ${code}, signal ${signal})`;
        this.scheduleRestart(Date.now() - this.startedAt);
      };
      child.once('error', (err) => onEnd(null, null, err));
      child.once('exit', (code, signal) => onEnd(code, signal));
    });
    if (child.pid !== undefined) {
      writePid(this.opts.pidFile, child.pid);
      log.info({ event: `${event}_started`, childPid: child.pid, binary, ...this.opts.startedFields }, `${name} started`);
    }
    void this.probe(generation, child);
  }

  private scheduleRestart(uptimeMs: number): void {
    const delayMs = nextRestartDelay(this.lastDelay, uptimeMs, this.opts.backoff ?? DEFAULT_BACKOFF);
    this.lastDelay = delayMs;
    this.opts.log.warn({ event: `${this.opts.event}_exited`, uptimeMs, restartInMs: delayMs, reason: this.lastError, stderr: lastLines(this.tail) }, `${this.opts.name} is down; restarting in ${delayMs} ms`);
    this.restartTimer = setTimeout(() => this.spawnOnce(), delayMs);
  }

  // Polls until the child answers (or is gone), then runs onReady.
  private async probe(generation: number, child: ChildProcess): Promise<void> {
    const current = () => generation === this.generation && !this.stopping && this.child === child;
    while (current()) {
      try {
        if (await this.opts.probe()) break;
      } catch (err) {
        this.lastError = (err as Error).message;
        break;
      }
      await new Promise((r) => setTimeout(r, this.opts.pollMs));
    }
    if (!current()) return;
    try {
      await this.opts.onReady?.();
      this.lastError = '';
    } catch (err) {
      this.lastError = (err as Error).message;
    }
    if (!current()) return;
    this.ready = true;
    this.opts.log.info({ event: `${this.opts.event}_ready`, childPid: child.pid, ms: Date.now() - this.startedAt }, `${this.opts.name} ready`);
    for (const wake of this.waiters.splice(0)) wake();
  }

  private async stopLeftover(): Promise<void> {
    const { pidFile, log } = this.opts;
    const pid = livePidFromFile(pidFile, this.opts.marker);
    if (pid !== null) {
      log.info({ event: `${this.opts.event}_leftover_stopped`, leftoverPid: pid }, `stopping a ${this.opts.title} left over by an earlier agent`);
      process.kill(pid, 'SIGTERM');
      const until = Date.now() + this.opts.stopTimeoutMs;
      while (isAlive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    removePid(pidFile);
  }
}

function lastLines(text: string, n = 3): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}
