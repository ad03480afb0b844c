// A terminal session in a container: Podman's exec API with stdin attached (and a TTY unless the
// caller asked for stdout and stderr apart), on a hijacked connection to Podman's socket.
import type { Socket } from 'node:net';
import type { OpenTerminal, TerminalOpened } from '../../proto/gen/podploy/agent/v1/agent';
import { CONTAINER_SHELL, TERMINAL_DEFAULTS } from '../../proto/terminal-defaults';
import type { AppView } from '../logs-rpc';
import type { Logger } from '../logger';
import { isPodmanNotFound, type PodmanClient } from '../podman/client';
import { findContainer, PODPLOY_LABELS } from '../podman/containers';
import { attachExec, createExec, EXEC_REQUEST_TIMEOUT_MS, ExecFrameReader, execExitCode, inspectExec, resizeExec, runExec } from '../podman/exec';
import { endLiveTerminal, type ContainerKill, type LiveTerminal } from './live-sessions';
import { leaderOf } from './session-processes';
import { ResizeQueue, type OutputStream, type TerminalExitInfo, type TerminalProcess } from './terminal-process';
import { TerminalRefused } from './terminal-refused';

// How long after the attach Podman may take to report the exec process running with its pid.
const EXEC_PID_WAIT_MS = 3_000;
const EXEC_PID_POLL_MS = 20;

export interface ContainerSessionDeps {
  nodeId: string;
  podman: PodmanClient;
  apps: AppView;
  log: Logger;
}

export interface ContainerTarget {
  app: string;
  container: string;
  id: string;
  release: string;
}

// The container an OpenTerminal means: the named one (it must be one of the app's), else the
// app's live container. It must be running.
export async function resolveContainer(open: OpenTerminal, deps: ContainerSessionDeps): Promise<ContainerTarget> {
  const { app } = open;
  const name = open.container || deps.apps.live(app)?.container;
  if (!name) throw new TerminalRefused('not_found', `node ${deps.nodeId}: app ${app} has no live container here; deploy it first, or name a container of it`);
  const info = await findContainer(deps.podman, name);
  if (!info || info.labels[PODPLOY_LABELS.app] !== app) {
    throw new TerminalRefused('not_found', `node ${deps.nodeId}: app ${app} has no container ${name}${info ? ' (that container belongs to no app or another app)' : ''}; list them with podploy ps ${app}`);
  }
  const container = info.name.replace(/^\//, '');
  if (!info.running) {
    throw new TerminalRefused('failed_precondition', `node ${deps.nodeId}: container ${container} of app ${app} is ${info.state}; start the app (podploy app start ${app}) first`);
  }
  return { app, container, id: info.id, release: info.labels[PODPLOY_LABELS.release] ?? '' };
}

export function containerKill(podman: PodmanClient): ContainerKill {
  return async (container, pids) => {
    await runExec(podman, container, ['kill', '-9', ...pids.map(String)], { timeoutMs: EXEC_REQUEST_TIMEOUT_MS });
  };
}

export async function openContainerSession(target: ContainerTarget, open: OpenTerminal, deps: ContainerSessionDeps): Promise<TerminalProcess> {
  const { podman, log } = deps;
  const command = open.command.length ? [...open.command] : [...CONTAINER_SHELL];
  const env = open.tty ? { TERM: TERMINAL_DEFAULTS.term, ...open.env } : { ...open.env };
  let execId: string;
  try {
    execId = await createExec(podman, target.id, { cmd: command, env, tty: open.tty, attachStdin: true });
  } catch (err) {
    throw await refusalOf(err as Error, target, deps);
  }
  const socket = await attachExec(podman, execId, { tty: open.tty });
  const pid = await execPid(podman, execId);
  const leader = pid ? await leaderOf(pid) : undefined;
  const live: LiveTerminal = { sessionId: open.sessionId, container: target.id, leaders: leader ? [leader] : [], startedAt: new Date().toISOString() };
  const opened: TerminalOpened = { container: target.container, release: target.release, command, user: '', pid };
  const resizes = new ResizeQueue((cols, rows) =>
    resizeExec(podman, execId, cols, rows).catch((err: Error) => log.warn({ event: 'terminal_resize_failed', sessionId: open.sessionId, err: err.message }, 'resizing the terminal failed')),
  );
  if (open.tty) await resizes.push(open.cols || TERMINAL_DEFAULTS.cols, open.rows || TERMINAL_DEFAULTS.rows);
  return new ContainerSession(socket, execId, target, opened, live, open.tty, resizes, deps);
}

class ContainerSession implements TerminalProcess {
  readonly exited: Promise<TerminalExitInfo>;
  private ended = false;

  constructor(
    private readonly socket: Socket,
    private readonly execId: string,
    private readonly target: ContainerTarget,
    readonly opened: TerminalOpened,
    readonly live: LiveTerminal,
    private readonly tty: boolean,
    private readonly resizes: ResizeQueue,
    private readonly deps: ContainerSessionDeps,
  ) {
    // Writing to a process that closed its stdin fails here; the output side says how it ended.
    socket.on('error', (err) => deps.log.debug({ event: 'terminal_socket_error', sessionId: live.sessionId, err: err.message }, 'exec connection error'));
    this.exited = new Promise((resolve) => socket.once('close', () => resolve(this.exitInfo())));
  }

  onOutput(listener: (stream: OutputStream, chunk: Buffer) => void): void {
    if (this.tty) this.socket.on('data', (chunk: Buffer) => listener('data', chunk));
    else {
      const frames = new ExecFrameReader((stream, payload) => listener(stream === 1 ? 'data' : 'stderr', payload));
      this.socket.on('data', (chunk: Buffer) => frames.push(chunk));
    }
    this.socket.resume();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  write(data: Buffer): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return true;
    return this.socket.write(data);
  }

  onInputDrain(listener: () => void): void {
    this.socket.on('drain', listener);
  }

  endInput(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  resize(cols: number, rows: number): void {
    if (this.tty) void this.resizes.push(cols, rows);
  }

  async kill(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    try {
      await endLiveTerminal(this.live, containerKill(this.deps.podman));
    } finally {
      this.socket.destroy();
    }
  }

  private async exitInfo(): Promise<TerminalExitInfo> {
    try {
      const code = await execExitCode(this.deps.podman, this.execId);
      const info = await findContainer(this.deps.podman, this.target.id);
      return { code, reason: info?.running ? 'exited' : 'container stopped' };
    } catch (err) {
      return { code: -1, reason: `the exit code is unknown: ${(err as Error).message}` };
    }
  }
}

async function execPid(podman: PodmanClient, id: string): Promise<number> {
  const until = Date.now() + EXEC_PID_WAIT_MS;
  for (;;) {
    const info = await inspectExec(podman, id);
    if (info.pid > 0) return info.pid;
    if (info.exitCode !== null || Date.now() > until) return 0;
    await new Promise((r) => setTimeout(r, EXEC_PID_POLL_MS));
  }
}

// Podman refused the exec: the container went away or stopped since it was looked up.
async function refusalOf(err: Error, target: ContainerTarget, deps: ContainerSessionDeps): Promise<Error> {
  if (isPodmanNotFound(err)) return new TerminalRefused('not_found', `node ${deps.nodeId}: container ${target.container} of app ${target.app} is gone: ${err.message}`);
  const info = await findContainer(deps.podman, target.id).catch(() => undefined);
  if (info && !info.running) {
    return new TerminalRefused('failed_precondition', `node ${deps.nodeId}: container ${target.container} of app ${target.app} is ${info.state}; start the app (podploy app start ${target.app}) first`);
  }
  return err;
}
