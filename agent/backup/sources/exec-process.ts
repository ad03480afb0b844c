// One command run inside a container through Podman's exec API on a hijacked connection: the
// socket carries the command's stdin one way and its framed stdout/stderr the other. Podman
// 4.3.1 answers "101 UPGRADED" and closes the command's stdin when the agent half-closes the
// socket (end()); detaching does NOT stop the command, so abort() signals its process group.
import type { Socket } from 'node:net';
import type { PodmanClient } from '../../podman/client';
import { attachExec, createExec, EXEC_REQUEST_TIMEOUT_MS, ExecFrameReader, inspectExec, runExec } from '../../podman/exec';
import { namespacePid } from '../../host/namespace-pid';
import { ByteTail } from './byte-tail';

export const STDERR_TAIL_BYTES = 8 * 1024;
// After the output ends Podman may report the session running for a moment.
const EXIT_CODE_WAIT_MS = 5_000;
const EXIT_CODE_POLL_MS = 25;
// SIGTERM first (a shell's trap removes its temp file), SIGKILL after this.
export const ABORT_KILL_GRACE_MS = 2_000;

export interface ExecCommand {
  container: string;
  cmd: string[];
  // Inside the container; default: the container's own user.
  user?: string;
  // What this is, for errors: "pg_dump of database shop in container web-1".
  what: string;
  // Sent on stdin before anything else (a password line read by a shell wrapper); without an
  // input stream stdin ends after it.
  stdinPrefix?: Buffer;
  // Says why a failure exit code happened (127: "pg_dump is not installed in …").
  explainExit?: (exitCode: number, stderr: string) => string | undefined;
}

// A command that failed: its exit code (undefined when it never ran) and the end of its stderr.
export class SourceCommandError extends Error {
  constructor(
    message: string,
    readonly exitCode?: number,
    readonly stderr = '',
  ) {
    super(message);
    this.name = 'SourceCommandError';
  }
}

export class ExecProcess {
  readonly stderr = new ByteTail(STDERR_TAIL_BYTES);
  private onStdout: (data: Buffer) => void = () => undefined;

  private constructor(
    private readonly podman: PodmanClient,
    readonly command: ExecCommand,
    readonly id: string,
    readonly socket: Socket,
  ) {
    const demux = new ExecFrameReader((stream, payload) => (stream === 1 ? this.onStdout(payload) : this.stderr.push(payload)));
    socket.on('data', (chunk: Buffer) => demux.push(chunk));
  }

  // Creates the exec session and starts it attached; the socket is paused until the caller
  // resumes it. stdin is attached when withStdin (then the caller must end() the socket).
  static async start(podman: PodmanClient, command: ExecCommand, withStdin: boolean): Promise<ExecProcess> {
    let id: string;
    try {
      id = await createExec(podman, command.container, { cmd: command.cmd, user: command.user, attachStdin: withStdin || !!command.stdinPrefix });
    } catch (err) {
      throw new SourceCommandError(`${command.what}: could not start: ${(err as Error).message}`);
    }
    const socket = await attachExec(podman, id, { tty: false }).catch((err: Error) => {
      throw new SourceCommandError(`${command.what}: could not start: ${err.message}`);
    });
    if (command.stdinPrefix) {
      if (withStdin) socket.write(command.stdinPrefix);
      else socket.end(command.stdinPrefix);
    }
    return new ExecProcess(podman, command, id, socket);
  }

  stdout(handler: (data: Buffer) => void): void {
    this.onStdout = handler;
  }

  // Once the output ended: the exit code, or a SourceCommandError saying what failed.
  async result(): Promise<void> {
    const { what } = this.command;
    let code: number;
    try {
      code = await this.exitCode();
    } catch (err) {
      throw new SourceCommandError(`${what}: ${(err as Error).message}`, undefined, this.stderr.text());
    }
    if (code === 0) return;
    const stderr = this.stderr.text();
    const why = this.command.explainExit?.(code, stderr);
    throw new SourceCommandError(`${what} failed with exit code ${code}${why ? `: ${why}` : ''}${stderr ? `; its stderr ends with: ${stderr}` : ''}`, code, stderr);
  }

  // Stops the command and everything it started (it leads its own process group), then detaches.
  async abort(): Promise<void> {
    try {
      if (await this.signalGroup('SIGTERM')) {
        if (!(await this.exited(ABORT_KILL_GRACE_MS)) && (await this.signalGroup('SIGKILL'))) await this.exited(ABORT_KILL_GRACE_MS);
      }
    } finally {
      this.socket.destroy();
    }
  }

  private async exitCode(): Promise<number> {
    const until = Date.now() + EXIT_CODE_WAIT_MS;
    for (;;) {
      const info = await inspectExec(this.podman, this.id);
      if (info.exitCode !== null) return info.exitCode;
      if (Date.now() > until) throw new Error(`its output ended but Podman still reports exec ${this.id.slice(0, 12)} running after ${EXIT_CODE_WAIT_MS} ms`);
      await sleep(EXIT_CODE_POLL_MS);
    }
  }

  // True once Podman reports the command over (within withinMs).
  private async exited(withinMs: number): Promise<boolean> {
    const until = Date.now() + withinMs;
    for (;;) {
      const running = (await inspectExec(this.podman, this.id).catch(() => undefined))?.running ?? false;
      if (!running) return true;
      if (Date.now() > until) return false;
      await sleep(EXIT_CODE_POLL_MS * 4);
    }
  }

  // True when a signal was sent. The agent signals the host process directly when it may (same
  // user); a command running as another user of a rootless container is signalled from inside.
  private async signalGroup(signal: 'SIGTERM' | 'SIGKILL'): Promise<boolean> {
    const info = await inspectExec(this.podman, this.id).catch(() => undefined);
    if (!info?.running || info.pid <= 0) return false;
    try {
      process.kill(-info.pid, signal);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
    }
    const inner = await namespacePid(info.pid);
    if (!inner) return false;
    const r = await runExec(this.podman, this.command.container, ['kill', `-${signal.slice(3)}`, '--', `-${inner}`], { user: '0', timeoutMs: EXEC_REQUEST_TIMEOUT_MS }).catch(() => undefined);
    return r?.exitCode === 0;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
