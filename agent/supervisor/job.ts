// One child process the supervisor keeps alive: restarted with back-off when it exits, its pid
// in a pid file while it runs.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../logger';
import { removePid, writePid } from './pid-files';
import { DEFAULT_BACKOFF, nextRestartDelay, type BackoffPolicy } from './restart-backoff';

export const STOP_TIMEOUT_MS = 10_000;

export interface JobSpec {
  name: string;
  command: string;
  args: string[];
  pidFile: string;
  // Runs before every start (e.g. clear a stale socket).
  beforeStart?: () => void;
}

export class SupervisedJob {
  private child: ChildProcess | null = null;
  private startedAt = 0;
  private lastDelay: number | null = null;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly spec: JobSpec,
    private readonly log: Logger,
    private readonly backoff: BackoffPolicy = DEFAULT_BACKOFF,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.stopping) return;
    const { name, command, args, pidFile } = this.spec;
    try {
      this.spec.beforeStart?.();
    } catch (err) {
      this.log.warn({ event: 'job_prepare_failed', job: name, err }, `preparing ${name} failed`);
    }
    const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    this.child = child;
    this.startedAt = Date.now();
    let done = false;
    this.exited = new Promise((resolve) => {
      const onEnd = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
        if (done) return;
        done = true;
        removePid(pidFile);
        this.child = null;
        resolve();
        this.onExit(code, signal, err);
      };
      child.once('error', (err) => onEnd(null, null, err));
      child.once('exit', (code, signal) => onEnd(code, signal));
    });
    if (child.pid !== undefined) {
      writePid(pidFile, child.pid);
      this.log.info({ event: 'job_started', job: name, childPid: child.pid }, `${name} started`);
    }
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, err?: Error): void {
    const uptimeMs = Date.now() - this.startedAt;
    if (this.stopping) {
      this.log.info({ event: 'job_stopped', job: this.spec.name, code, signal }, `${this.spec.name} stopped`);
      return;
    }
    const delayMs = nextRestartDelay(this.lastDelay, uptimeMs, this.backoff);
    this.lastDelay = delayMs;
    this.log.warn(
      { event: 'job_exited', job: this.spec.name, code, signal, uptimeMs, restartInMs: delayMs, err: err?.message },
      `${this.spec.name} exited; restarting in ${delayMs} ms`,
    );
    this.restartTimer = setTimeout(() => this.start(), delayMs);
  }

  // SIGTERM, then SIGKILL after the timeout.
  async stop(timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(killer);
  }
}
