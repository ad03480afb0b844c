// A shell on the node itself, as the agent's user. A real PTY without a native module: util-linux
// `script` (Essential on Debian) runs the shell on a pty of its own and relays it over pipes.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readlink } from 'node:fs/promises';
import { constants, userInfo } from 'node:os';
import type { OpenTerminal, TerminalOpened } from '../../proto/gen/podploy/agent/v1/agent';
import { TERMINAL_DEFAULTS } from '../../proto/terminal-defaults';
import type { Logger } from '../logger';
import { endLiveTerminal, type LiveTerminal } from './live-sessions';
import { allProcesses, leaderOf, type SessionLeader } from './session-processes';
import { ResizeQueue, type OutputStream, type TerminalExitInfo, type TerminalProcess } from './terminal-process';

const FALLBACK_SHELL = '/bin/sh';
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';
const DEFAULT_LANG = 'C.UTF-8';
// How long `script` may take to start the shell on its pty.
const PTY_CHILD_WAIT_MS = 3_000;
const PTY_CHILD_POLL_MS = 10;

export interface NodeShellDeps {
  log: Logger;
}

// The agent user's login shell; a user without one (nologin, false) gets /bin/sh.
export function loginShell(shell: string | null | undefined): string {
  if (!shell || /(nologin|false)$/.test(shell)) return FALLBACK_SHELL;
  return shell;
}

// POSIX shell quoting: each argument in single quotes.
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

// What runs: `script` around the shell (tty), or the command itself (stdout and stderr apart).
export function nodeShellCommand(open: Pick<OpenTerminal, 'command' | 'tty'>, shell: string): { file: string; args: string[]; shown: string[] } {
  if (open.tty) {
    const inner = open.command.length ? shellQuote(open.command) : `${shellQuote([shell])} -l`;
    return { file: 'script', args: ['-qfec', inner, '/dev/null'], shown: open.command.length ? [...open.command] : [shell, '-l'] };
  }
  if (open.command.length) return { file: open.command[0], args: open.command.slice(1), shown: [...open.command] };
  return { file: shell, args: ['-l'], shown: [shell, '-l'] };
}

export async function openNodeShell(open: OpenTerminal, deps: NodeShellDeps): Promise<TerminalProcess> {
  const me = userInfo();
  const shell = loginShell(me.shell);
  const env: Record<string, string> = {
    HOME: me.homedir,
    USER: me.username,
    LOGNAME: me.username,
    SHELL: shell,
    PATH: process.env.PATH || DEFAULT_PATH,
    LANG: process.env.LANG || DEFAULT_LANG,
    ...(open.tty ? { TERM: TERMINAL_DEFAULTS.term } : {}),
    ...open.env,
  };
  const { file, args, shown } = nodeShellCommand(open, shell);
  const child = spawn(file, args, { cwd: me.homedir, env, detached: true, stdio: 'pipe' });
  child.stdout!.pause();
  child.stderr!.pause();
  const exited = new Promise<TerminalExitInfo>((resolve) =>
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : -1), reason: 'exited' })),
  );
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new Error(`starting ${file} on the node failed: ${err.message}`)));
  });
  const pid = child.pid!;
  const leaders: SessionLeader[] = [];
  const own = await leaderOf(pid);
  if (own) leaders.push(own);
  let pts: string | undefined;
  let shellPid = pid;
  if (open.tty) {
    const inner = await ptyChild(pid, () => child.exitCode !== null || child.signalCode !== null);
    if (inner) {
      shellPid = inner.pid;
      leaders.push(inner);
      pts = await ptyOf(inner.pid, () => child.exitCode !== null || child.signalCode !== null);
      if (!pts) deps.log.warn({ event: 'terminal_pty_unknown', sessionId: open.sessionId }, 'the node shell runs, but its terminal was not found: window size changes will not reach it');
    }
  }
  const live: LiveTerminal = { sessionId: open.sessionId, leaders, startedAt: new Date().toISOString() };
  const opened: TerminalOpened = { container: '', release: '', command: shown, user: me.username, pid: shellPid };
  const session = new NodeShell(child, exited, opened, live, open.tty, pts, deps);
  if (open.tty) await session.sizeBeforeInput(open.cols || TERMINAL_DEFAULTS.cols, open.rows || TERMINAL_DEFAULTS.rows);
  return session;
}

class NodeShell implements TerminalProcess {
  private readonly resizes: ResizeQueue;
  private ended = false;

  constructor(
    private readonly child: ChildProcess,
    readonly exited: Promise<TerminalExitInfo>,
    readonly opened: TerminalOpened,
    readonly live: LiveTerminal,
    private readonly tty: boolean,
    pts: string | undefined,
    deps: NodeShellDeps,
  ) {
    this.resizes = new ResizeQueue(async (cols, rows) => {
      if (!pts?.startsWith('/dev/pts/')) return;
      await stty(pts, cols, rows).catch((err: Error) => deps.log.warn({ event: 'terminal_resize_failed', sessionId: live.sessionId, err: err.message }, 'resizing the terminal failed'));
    });
    child.stdin!.on('error', (err) => deps.log.debug({ event: 'terminal_stdin_error', sessionId: live.sessionId, err: err.message }, 'node shell stdin error'));
  }

  // The initial size, set before the caller's first input reaches the shell.
  sizeBeforeInput(cols: number, rows: number): Promise<void> {
    return this.resizes.push(cols, rows);
  }

  onOutput(listener: (stream: OutputStream, chunk: Buffer) => void): void {
    this.child.stdout!.on('data', (c: Buffer) => listener('data', c));
    this.child.stderr!.on('data', (c: Buffer) => listener(this.tty ? 'data' : 'stderr', c));
    this.resume();
  }

  pause(): void {
    this.child.stdout!.pause();
    this.child.stderr!.pause();
  }

  resume(): void {
    this.child.stdout!.resume();
    this.child.stderr!.resume();
  }

  write(data: Buffer): boolean {
    const stdin = this.child.stdin!;
    if (stdin.destroyed || stdin.writableEnded) return true;
    return stdin.write(data);
  }

  onInputDrain(listener: () => void): void {
    this.child.stdin!.on('drain', listener);
  }

  endInput(): void {
    this.child.stdin!.end();
  }

  resize(cols: number, rows: number): void {
    if (this.tty) void this.resizes.push(cols, rows);
  }

  async kill(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await endLiveTerminal(this.live, undefined);
  }
}

// The shell `script` started on its pty (its only child).
async function ptyChild(scriptPid: number, scriptEnded: () => boolean): Promise<SessionLeader | undefined> {
  const until = Date.now() + PTY_CHILD_WAIT_MS;
  while (Date.now() < until && !scriptEnded()) {
    const child = (await allProcesses()).find((p) => p.ppid === scriptPid);
    if (child) return { pid: child.pid, startTime: child.startTime };
    await new Promise((r) => setTimeout(r, PTY_CHILD_POLL_MS));
  }
  return undefined;
}

// script's child opens the PTY after the fork: until it has, its stdin is still script's pipe.
async function ptyOf(pid: number, scriptEnded: () => boolean): Promise<string | undefined> {
  const until = Date.now() + PTY_CHILD_WAIT_MS;
  while (Date.now() < until && !scriptEnded()) {
    const fd0 = await readlink(`/proc/${pid}/fd/0`).catch(() => undefined);
    if (fd0?.startsWith('/dev/pts/')) return fd0;
    await new Promise((r) => setTimeout(r, PTY_CHILD_POLL_MS));
  }
  return undefined;
}

function stty(pts: string, cols: number, rows: number): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('stty', ['-F', pts, 'rows', String(rows), 'cols', String(cols)], (err, _out, stderr) => (err ? reject(new Error(`stty -F ${pts}: ${stderr.trim() || err.message}`)) : resolve())),
  );
}
