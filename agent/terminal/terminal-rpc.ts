// The Terminal RPC: an interactive session in a container or on the node, over one bidirectional
// stream. The order on the wire:
//
//   caller -> agent: `open` (a SignedCommand carrying open_terminal) first and exactly once; then
//                    `data`, `resize` and `stdin_eof` in any order. Messages sent before `opened`
//                    arrives are kept and applied once the process runs.
//   agent -> caller: `opened` once the process runs, then `data` (and `stderr` without a tty) as
//                    the process writes, then exactly one `exit`, then the end of the stream (OK).
//
// An open the agent refuses ends the call with a status and no message: PERMISSION_DENIED (not
// signed by the control plane, replayed, expired, for another node, valid for longer than
// OPEN_TERMINAL_TTL_MS), INVALID_ARGUMENT (not open first, no open_terminal, bad sizes, not
// exactly one of app and node_shell...), NOT_FOUND (no such app container), FAILED_PRECONDITION
// (the container is not running). The caller's half-close, cancel or a broken connection ends
// the process and everything it started; `exit` then says code -1, "closed by the caller".
// Input and output bytes are never logged: only who, what, how long and how many bytes.
import { status, type ServerDuplexStream, type ServerErrorResponse } from '@grpc/grpc-js';
import type { CommandEnvelope, OpenTerminal, TerminalInput, TerminalOutput } from '../../proto/gen/podploy/agent/v1/agent';
import type { NodeEventSink } from '../../proto/node-events';
import { CommandRejected } from '../../proto/signing';
import { OPEN_TERMINAL_TTL_MS, TERMINAL_LIMITS, terminalSizeProblems } from '../../proto/terminal-defaults';
import type { AppView } from '../logs-rpc';
import type { Logger } from '../logger';
import type { PodmanClient } from '../podman/client';
import { openContainerSession, resolveContainer } from './container-session';
import type { LiveTerminals } from './live-sessions';
import { openNodeShell } from './node-shell';
import type { TerminalExitInfo, TerminalProcess } from './terminal-process';
import { TerminalRefused } from './terminal-refused';

export const CLOSED_BY_CALLER = 'closed by the caller';
const APP_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SESSION_ID = /^[A-Za-z0-9._-]{1,128}$/;

export interface TerminalCallDeps {
  nodeId: string;
  podman: PodmanClient;
  apps: AppView;
  commands: { verify(signed: NonNullable<TerminalInput['open']>): CommandEnvelope };
  sessions: LiveTerminals;
  events?: NodeEventSink;
  log: Logger;
}

export type TerminalCall = ServerDuplexStream<TerminalInput, TerminalOutput>;

// Serves one Terminal call to its end; never throws.
export function handleTerminal(call: TerminalCall, deps: TerminalCallDeps): void {
  runTerminal(call, deps).catch((err: Error) => {
    deps.log.error({ event: 'terminal_failed', err: err.message }, 'terminal call failed');
    failCall(call, status.INTERNAL, `node ${deps.nodeId}: the terminal failed: ${err.message}`);
  });
}

async function runTerminal(call: TerminalCall, deps: TerminalCallDeps): Promise<void> {
  const { log, nodeId } = deps;
  const caller = callerGone(call);
  const first = await firstMessage(call);
  if (first === 'gone') return;
  if (first === 'timeout') return failCall(call, status.DEADLINE_EXCEEDED, `node ${nodeId}: no open arrived within ${OPEN_TERMINAL_TTL_MS} ms of the call`);
  if (!first.open) return failCall(call, status.INVALID_ARGUMENT, 'the first message of a Terminal call must be open (a signed open_terminal)');
  let envelope: CommandEnvelope;
  try {
    envelope = deps.commands.verify(first.open);
    if (envelope.expiresAtMs - envelope.issuedAtMs > OPEN_TERMINAL_TTL_MS) {
      throw new CommandRejected('ttl_too_long', `an open_terminal may be valid for ${OPEN_TERMINAL_TTL_MS} ms at most, this one for ${envelope.expiresAtMs - envelope.issuedAtMs} ms`);
    }
  } catch (err) {
    if (err instanceof CommandRejected) return failCall(call, status.PERMISSION_DENIED, `node ${nodeId} rejected the terminal: ${err.message}`);
    throw err;
  }
  const open = envelope.openTerminal;
  if (!open) {
    log.warn({ event: 'terminal_invalid', actor: envelope.actor, nonce: envelope.nonce }, 'Terminal called without open_terminal');
    return failCall(call, status.INVALID_ARGUMENT, 'Terminal needs a signed command carrying open_terminal; other commands go through Execute');
  }
  const target = open.nodeShell ? 'node shell' : `app ${open.app}${open.container ? ` container ${open.container}` : ''}`;
  const ids = { sessionId: open.sessionId, actor: envelope.actor, target, tty: open.tty };
  let proc: TerminalProcess;
  try {
    checkOpen(open, deps);
    proc = open.nodeShell ? await openNodeShell(open, deps) : await openContainerSession(await resolveContainer(open, deps), open, deps);
  } catch (err) {
    if (!(err instanceof TerminalRefused)) throw err;
    log.warn({ event: 'terminal_refused', ...ids, reason: err.message }, `terminal refused: ${err.message}`);
    return failCall(call, REFUSAL_STATUS[err.code], err.message);
  }
  deps.sessions.add(proc.live);
  await serveSession(call, proc, open, ids, caller, deps);
}

const REFUSAL_STATUS: Record<TerminalRefused['code'], status> = {
  invalid: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  failed_precondition: status.FAILED_PRECONDITION,
  unavailable: status.UNAVAILABLE,
};

export function checkOpen(open: OpenTerminal, deps: Pick<TerminalCallDeps, 'nodeId' | 'sessions'>): void {
  const problems: string[] = [];
  if (!SESSION_ID.test(open.sessionId)) problems.push('session_id must be 1 to 128 letters, digits, dots, dashes or underscores');
  if (open.nodeShell === !!open.app) problems.push('give exactly one of app (a shell in its container) and node_shell');
  if (open.app && !APP_NAME.test(open.app)) problems.push(`"${open.app}" is not an app name (lowercase letters, digits and dashes)`);
  if (open.nodeShell && open.container) problems.push('container goes with app, not with node_shell');
  if (open.tty || open.cols || open.rows) problems.push(...terminalSizeProblems(open.cols, open.rows));
  if (open.command.length > TERMINAL_LIMITS.maxCommandArgs) problems.push(`command has ${open.command.length} arguments, at most ${TERMINAL_LIMITS.maxCommandArgs}`);
  if (open.command.length && !open.command[0]) problems.push('command starts with an empty program name');
  if (deps.sessions.list().some((s) => s.sessionId === open.sessionId)) problems.push(`session ${open.sessionId} is already open on node ${deps.nodeId}`);
  if (problems.length) throw new TerminalRefused('invalid', `node ${deps.nodeId}: the terminal was not opened: ${problems.join('; ')}`);
}

async function serveSession(
  call: TerminalCall,
  proc: TerminalProcess,
  open: OpenTerminal,
  ids: { sessionId: string; actor: string; target: string; tty: boolean },
  caller: Promise<void>,
  deps: TerminalCallDeps,
): Promise<void> {
  const { log } = deps;
  const started = Date.now();
  let bytesIn = 0;
  let bytesOut = 0;
  let tooLarge = false;
  const writable = () => !call.cancelled && !call.destroyed && !call.writableEnded;
  log.info({ event: 'terminal_opened', ...ids, pid: proc.opened.pid, container: proc.opened.container || undefined }, `terminal ${ids.sessionId} opened: ${ids.target}`);
  deps.events?.emit({
    kind: 'terminal.opened',
    app: open.app || undefined,
    container: proc.opened.container || undefined,
    release: proc.opened.release || undefined,
    message: `${ids.actor} opened a terminal (${ids.target})`,
    data: { actor: ids.actor, sessionId: ids.sessionId, target: ids.target, tty: open.tty, pid: proc.opened.pid },
  });
  if (writable()) call.write({ opened: proc.opened });

  let waitingForDrain = false;
  proc.onOutput((stream, chunk) => {
    bytesOut += chunk.length;
    if (!writable()) return;
    const room = call.write(stream === 'data' ? { data: chunk } : { stderr: chunk });
    if (!room && !waitingForDrain) {
      waitingForDrain = true;
      proc.pause();
      call.once('drain', () => {
        waitingForDrain = false;
        proc.resume();
      });
    }
  });

  let oversize: () => void = () => undefined;
  const inputTooLarge = new Promise<void>((resolve) => (oversize = resolve));
  proc.onInputDrain(() => call.resume());
  call.on('data', (msg: TerminalInput) => {
    if (msg.data) {
      if (msg.data.length > TERMINAL_LIMITS.maxInputBytes) {
        tooLarge = true;
        return oversize();
      }
      bytesIn += msg.data.length;
      if (!proc.write(msg.data)) call.pause();
    } else if (msg.resize) {
      const problems = terminalSizeProblems(msg.resize.cols, msg.resize.rows);
      if (problems.length) log.warn({ event: 'terminal_resize_refused', sessionId: ids.sessionId, problems }, 'a resize was refused');
      else proc.resize(msg.resize.cols, msg.resize.rows);
    } else if (msg.stdinEof) proc.endInput();
    else if (msg.open) log.warn({ event: 'terminal_second_open', sessionId: ids.sessionId }, 'a second open in one Terminal call was ignored');
  });
  call.resume();

  const outcome = await Promise.race([
    proc.exited.then((e) => ({ exit: e })),
    caller.then(() => ({ exit: { code: -1, reason: CLOSED_BY_CALLER } as TerminalExitInfo })),
    inputTooLarge.then(() => ({ exit: { code: -1, reason: `an input message was over ${TERMINAL_LIMITS.maxInputBytes} bytes; split pastes` } as TerminalExitInfo })),
  ]);
  // Whatever it left running goes too (background jobs of an exited shell included).
  await proc.kill().catch((err: Error) => log.error({ event: 'terminal_kill_failed', sessionId: ids.sessionId, err: err.message }, 'ending the terminal processes failed'));
  deps.sessions.remove(ids.sessionId);
  const exit = outcome.exit;
  const durationMs = Date.now() - started;
  log.info(
    { event: 'terminal_closed', ...ids, exitCode: exit.code, reason: exit.reason, durationMs, bytesIn, bytesOut, inputTooLarge: tooLarge || undefined },
    `terminal ${ids.sessionId} closed: ${exit.reason} (${exit.code})`,
  );
  deps.events?.emit({
    kind: 'terminal.closed',
    app: open.app || undefined,
    container: proc.opened.container || undefined,
    release: proc.opened.release || undefined,
    message: `the terminal of ${ids.actor} (${ids.target}) closed: ${exit.reason}, exit code ${exit.code}`,
    data: { actor: ids.actor, sessionId: ids.sessionId, target: ids.target, exitCode: exit.code, reason: exit.reason, durationMs, bytesIn, bytesOut },
  });
  if (writable()) {
    call.write({ exit });
    call.end();
  }
}

// Resolves when the caller half-closes, cancels, or the connection breaks.
function callerGone(call: TerminalCall): Promise<void> {
  return new Promise((resolve) => {
    call.once('end', () => resolve());
    call.once('cancelled', () => resolve());
    call.once('error', () => resolve());
    call.once('close', () => resolve());
  });
}

// The first message, with the stream paused after it (what follows waits for the session).
function firstMessage(call: TerminalCall): Promise<TerminalInput | 'gone' | 'timeout'> {
  return new Promise((resolve) => {
    const settle = (v: TerminalInput | 'gone' | 'timeout') => {
      clearTimeout(timer);
      call.off('data', onData);
      call.off('end', onGone);
      call.off('cancelled', onGone);
      call.pause();
      resolve(v);
    };
    const onData = (msg: TerminalInput) => settle(msg);
    const onGone = () => settle('gone');
    const timer = setTimeout(() => settle('timeout'), OPEN_TERMINAL_TTL_MS);
    call.on('data', onData);
    call.once('end', onGone);
    call.once('cancelled', onGone);
  });
}

// Ends the call with a status. (destroy(err) would not: grpc-js sends the status from the
// stream's final step, which a destroyed stream never reaches.)
function failCall(call: TerminalCall, code: status, details: string): void {
  if (call.cancelled || call.destroyed || call.writableEnded) return;
  call.emit('error', Object.assign(new Error(details), { code, details }) as ServerErrorResponse);
}
