// `podploy exec [-i] [-t] APP [-- COMMAND...]` and `podploy shell NODE`: a recorded terminal
// through the control plane. With -t on a TTY: raw mode, window size changes follow. Output is
// acknowledged once stdout took it (flow control). Exits with the remote exit code.
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { TERMINAL_DEFAULTS, TERMINAL_FLOW } from '../../proto/terminal-defaults';
import { ApiError, type ApiClient, type TerminalEvent, type TerminalOpenInput } from '../api/contract';
import type { CliHelpers } from './logs-commands';

// Input calls in flight before stdin is paused.
const MAX_INPUTS_IN_FLIGHT = 16;
// One terminal.input carries at most this many chars (the API allows more; keep frames small).
const INPUT_PIECE_CHARS = 16 * 1024;
// Acknowledge what is left over after this long even below ackEveryChars.
const ACK_IDLE_MS = 50;
// The session closed or broke without an exit status.
export const EXIT_NO_STATUS = 255;

export function exitCodeFor(code: number | null): number {
  return code === null || code < 0 ? EXIT_NO_STATUS : code > 255 ? code % 256 || EXIT_NO_STATUS : code;
}

export function registerTerminalCommands(program: Command, { withApi }: CliHelpers): void {
  program
    .command('exec')
    .description("run a command (default: a shell) in an app's live container; the session is recorded")
    .argument('<app>')
    .argument('[command...]', 'after --, the command and its arguments')
    .option('-i, --interactive', 'send standard input to the command')
    .option('-t, --tty', 'give the command a terminal')
    .option('--release <n>', "a release's container instead of the live one")
    .action(async (app: string, command: string[], o: { interactive?: boolean; tty?: boolean; release?: string }) => {
      await withApi(async ({ client }) => {
        const release = o.release === undefined ? undefined : Number(o.release.replace(/^v/, ''));
        if (release !== undefined && (!Number.isInteger(release) || release < 1)) throw new ApiError('invalid_input', `--release '${o.release}' is not a release number`, 'e.g. --release 3 (see podploy releases APP)');
        const code = await runTerminal(client, { target: { kind: 'app', app, ...(release ? { release } : {}) }, command, tty: !!o.tty }, !!o.interactive);
        process.exitCode = code;
      });
      process.exit(process.exitCode ?? 0);
    });

  program
    .command('shell')
    .description("a shell on a node, as the agent's user; the session is recorded")
    .argument('<node>')
    .action(async (node: string) => {
      await withApi(async ({ client }) => {
        process.exitCode = await runTerminal(client, { target: { kind: 'node', node }, command: [], tty: true }, true);
      });
      process.exit(process.exitCode ?? 0);
    });
}

export async function runTerminal(client: ApiClient, open: Omit<TerminalOpenInput, 'cols' | 'rows'>, interactive: boolean): Promise<number> {
  const stdin = process.stdin;
  const stdout = process.stdout;
  const raw = !!open.tty && interactive && stdin.isTTY === true;
  const size = () => ({ cols: stdout.columns || TERMINAL_DEFAULTS.cols, rows: stdout.rows || TERMINAL_DEFAULTS.rows });
  let session = '';
  let unacked = 0;
  let ackTimer: NodeJS.Timeout | null = null;
  const ack = () => {
    if (ackTimer) clearTimeout(ackTimer);
    ackTimer = null;
    if (!session || unacked === 0) return;
    const chars = unacked;
    unacked = 0;
    client.call('terminal.ack', { session, chars }).catch(() => undefined);
  };
  const shown = (chars: number) => {
    unacked += chars;
    if (unacked >= TERMINAL_FLOW.ackEveryChars) ack();
    else if (!ackTimer) ackTimer = setTimeout(ack, ACK_IDLE_MS);
  };

  let inFlight = 0;
  const decoder = new StringDecoder('utf8');
  const sendInput = (text: string) => {
    for (let at = 0; at < text.length; at += INPUT_PIECE_CHARS) {
      inFlight++;
      if (inFlight >= MAX_INPUTS_IN_FLIGHT) stdin.pause();
      client
        .call('terminal.input', { session, data: text.slice(at, at + INPUT_PIECE_CHARS) })
        .catch(() => undefined)
        .finally(() => {
          inFlight--;
          if (inFlight < MAX_INPUTS_IN_FLIGHT && !stdinEnded) stdin.resume();
        });
    }
  };
  let stdinEnded = false;
  const onStdin = (chunk: Buffer) => {
    const text = decoder.write(chunk);
    if (text) sendInput(text);
  };
  const onStdinEnd = () => {
    stdinEnded = true;
    const rest = decoder.end();
    if (rest) sendInput(rest);
    if (session) client.call('terminal.eof', { session }).catch(() => undefined);
  };
  const onResize = () => {
    if (session) client.call('terminal.resize', { session, ...size() }).catch(() => undefined);
  };

  const startInput = () => {
    if (!interactive) return;
    if (raw) {
      stdin.setRawMode(true);
      // libuv's raw mode keeps output processing (\n -> \r\n), which moves the cursor to the
      // first column where a full-screen program meant only "down"; the remote terminal already
      // did that translation. setRawMode(false) restores the saved settings, opost included.
      spawn('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] }).on('error', () => undefined);
      process.on('SIGWINCH', onResize);
    }
    stdin.on('data', onStdin);
    stdin.on('end', onStdinEnd);
    stdin.resume();
  };
  const stopInput = () => {
    if (!interactive) return;
    stdin.off('data', onStdin);
    stdin.off('end', onStdinEnd);
    stdin.pause();
    if (raw) {
      stdin.setRawMode(false);
      process.off('SIGWINCH', onResize);
    }
  };

  const onEvent = (e: TerminalEvent) => {
    if (e.kind === 'opened') {
      session = e.session;
      process.stderr.write(`recorded as ${e.session}\n`);
      startInput();
      return;
    }
    const to = e.kind === 'stderr' ? process.stderr : stdout;
    to.write(e.data, () => shown(e.data.length));
  };

  const call = client.stream('terminal.open', { ...open, ...size() }, onEvent);
  // Without a terminal, Ctrl-C ends the session (with one, it is a keystroke for the remote side).
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    call.cancel();
  };
  if (!raw) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  try {
    const r = await call.result;
    if (ackTimer) clearTimeout(ackTimer);
    await new Promise<void>((resolve) => stdout.write('', () => resolve()));
    process.stderr.write(`${raw ? '\r\n' : ''}recorded as ${r.session}${r.exitCode === null ? ` (${r.reason})` : ''}${raw ? '\r\n' : '\n'}`);
    return interrupted && r.exitCode === null ? 130 : exitCodeFor(r.exitCode);
  } finally {
    stopInput();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
