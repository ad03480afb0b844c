// `podploy-agent supervise`: the service manager for nodes without systemd. Keeps `run` (and,
// when configured, Podman's REST service) alive until SIGTERM or SIGINT.
import { lstatSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_PID_FILES, type AgentConfig } from '../../proto/agent-config';
import type { Logger } from '../logger';
import { SupervisedJob, STOP_TIMEOUT_MS, type JobSpec } from './job';
import { isAlive, livePidFromFile, removePid, writePid } from './pid-files';
import type { BackoffPolicy } from './restart-backoff';

export const PODMAN_BINARY = 'podman';
// Onboarding starts Podman's service detached before the supervisor exists and records it
// here; the supervisor replaces it with its own child.
export const INTERIM_PODMAN_PID_FILE = 'podman-interim.pid';
const SUPERVISE_MARKER = 'supervise';
const PODMAN_MARKER = 'system service';

export class SupervisorAlreadyRunning extends Error {
  constructor(readonly pid: number, pidFile: string) {
    super(`another supervisor (pid ${pid}, ${pidFile}) is already running for this config; stop it first`);
    this.name = 'SupervisorAlreadyRunning';
  }
}

export interface SupervisorOptions {
  config: AgentConfig;
  configPath: string;
  log: Logger;
  // How to start `run`: defaults to this same Node and script.
  agentCommand?: { command: string; args: string[] };
  backoff?: BackoffPolicy;
}

export interface RunningSupervisor {
  jobs: SupervisedJob[];
  stop(): Promise<void>;
}

export function startSupervisor(opts: SupervisorOptions): RunningSupervisor {
  const { config, log } = opts;
  mkdirSync(config.runDir, { recursive: true });
  const pidFile = join(config.runDir, AGENT_PID_FILES.supervisor);
  claimPidFile(pidFile);

  const jobs: SupervisedJob[] = [];
  if (config.manageJobs.includes('podman')) jobs.push(new SupervisedJob(podmanJob(config, log), log, opts.backoff));
  jobs.push(new SupervisedJob(agentJob(opts), log, opts.backoff));
  for (const job of jobs) job.start();
  log.info({ event: 'supervisor_started', nodeId: config.nodeId, jobs: jobs.length }, 'supervisor started');

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all(jobs.map((j) => j.stop(STOP_TIMEOUT_MS)));
      removePid(pidFile);
      log.info({ event: 'supervisor_stopped' }, 'supervisor stopped');
    })());
  return { jobs, stop };
}

// Refuses when a live supervisor holds the pid file; takes over a stale one.
function claimPidFile(pidFile: string): void {
  const other = livePidFromFile(pidFile, SUPERVISE_MARKER);
  if (other !== null) throw new SupervisorAlreadyRunning(other, pidFile);
  removePid(pidFile);
  try {
    writePid(pidFile, process.pid, true);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new SupervisorAlreadyRunning(0, pidFile);
    throw err;
  }
}

function agentJob(opts: SupervisorOptions): JobSpec {
  const { config } = opts;
  const pidFile = join(config.runDir, AGENT_PID_FILES.agent);
  const cmd = opts.agentCommand ?? { command: process.execPath, args: [...process.execArgv, process.argv[1]] };
  return {
    name: 'agent',
    command: cmd.command,
    args: [...cmd.args, 'run', '--config', opts.configPath],
    pidFile,
    // An agent left over from a supervisor that was killed would hold the port.
    beforeStart: () => stopLeftover(pidFile, `run --config ${opts.configPath}`, opts.log),
  };
}

function podmanJob(config: AgentConfig, log: Logger): JobSpec {
  const pidFile = join(config.runDir, AGENT_PID_FILES.podman);
  return {
    name: 'podman',
    command: PODMAN_BINARY,
    args: ['system', 'service', '--time=0', `unix://${config.podmanSocket}`],
    pidFile,
    beforeStart: () => {
      stopLeftover(join(config.runDir, INTERIM_PODMAN_PID_FILE), PODMAN_MARKER, log);
      stopLeftover(pidFile, PODMAN_MARKER, log);
      removeStaleSocket(config.podmanSocket);
    },
  };
}

function stopLeftover(pidFile: string, marker: string, log: Logger): void {
  const pid = livePidFromFile(pidFile, marker);
  if (pid !== null) {
    log.info({ event: 'leftover_stopped', pidFile, leftoverPid: pid }, 'stopping a leftover process');
    process.kill(pid, 'SIGTERM');
    waitForExit(pid, STOP_TIMEOUT_MS);
  }
  removePid(pidFile);
}

// Synchronous on purpose: it runs before a start and nothing else may happen meanwhile.
function waitForExit(pid: number, timeoutMs: number): void {
  const until = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (isAlive(pid) && Date.now() < until) Atomics.wait(pause, 0, 0, 50);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) rmSync(path);
  } catch {
    // absent: nothing to clear
  }
}
