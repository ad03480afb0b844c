// One terminal session as the UI runs it: opens the terminal.open stream, writes its output
// through the caller (xterm) and acknowledges what was written (terminal-flow.ts), sends typed
// input in order (held until the session is open, split below the input limit), sends size
// changes once they settle, and closes by cancelling the call. No DOM: the page gives it a
// `write(data, done)`. Unit-tested in terminal-session.spec.ts.
import { ApiError, type ApiClient, type RecordingSummary, type TerminalEvent, type TerminalTarget } from '../../src-main/api/contract';
import { TERMINAL_LIMITS } from '../../proto/terminal-defaults';
import { AckBatcher, type AckTimers } from './terminal-flow';

// A window being dragged resizes many times a second; the remote side hears the last size.
export const RESIZE_DEBOUNCE_MS = 120;

export type OpenedInfo = Extract<TerminalEvent, { kind: 'opened' }>;

export interface TerminalProblem {
  code: string;
  title: string;
  detail: string;
  // What to do about it.
  hint: string;
}

export type TerminalState =
  | { kind: 'connecting' }
  | { kind: 'live'; opened: OpenedInfo }
  | { kind: 'ended'; opened: OpenedInfo | null; exitCode: number | null; reason: string; recording: RecordingSummary | null }
  | { kind: 'failed'; opened: OpenedInfo | null; problem: TerminalProblem };

export interface TerminalSessionOptions {
  client: ApiClient;
  target: TerminalTarget;
  cols: number;
  rows: number;
  command?: string[];
  // Puts output on the screen and calls done once it is there.
  write: (data: string, done: () => void) => void;
  onState: (state: TerminalState) => void;
  timers?: AckTimers;
}

export class TerminalSession {
  state: TerminalState = { kind: 'connecting' };
  private call: { cancel(): void } | null = null;
  private opened: OpenedInfo | null = null;
  private held: string[] = [];
  private size: { cols: number; rows: number };
  private sentSize: { cols: number; rows: number };
  private resizeTimer: unknown = null;
  private closing = false;
  private readonly acks: AckBatcher;
  private readonly timers: AckTimers;

  constructor(private opts: TerminalSessionOptions) {
    this.timers = opts.timers ?? { set: (fn, ms) => setTimeout(fn, ms), clear: (t) => clearTimeout(t as ReturnType<typeof setTimeout>) };
    this.size = { cols: opts.cols, rows: opts.rows };
    this.sentSize = { ...this.size };
    this.acks = new AckBatcher((chars) => this.send('terminal.ack', { chars }), undefined, this.timers);
  }

  get flow(): { received: number; acked: number } {
    return { received: this.acks.received, acked: this.acks.acked };
  }

  open(): void {
    const { client, target, command } = this.opts;
    const stream = client.stream('terminal.open', { target, command: command ?? [], tty: true, cols: this.size.cols, rows: this.size.rows }, (ev) => this.progress(ev));
    this.call = stream;
    stream.result.then(
      (r) => this.finish({ kind: 'ended', opened: this.opened, exitCode: r.exitCode, reason: r.reason, recording: r.recording }),
      (err: unknown) => {
        if (this.closing && !this.opened) this.finish({ kind: 'ended', opened: null, exitCode: null, reason: 'closed before the session opened', recording: null });
        else this.finish({ kind: 'failed', opened: this.opened, problem: describeTerminalError(err, target, this.opened !== null) });
      },
    );
  }

  // Keystrokes and pastes, in order.
  input(data: string): void {
    if (!data || this.ended) return;
    if (!this.opened) {
      this.held.push(data);
      return;
    }
    for (const part of splitInput(data)) this.send('terminal.input', { data: part });
  }

  resize(cols: number, rows: number): void {
    this.size = { cols, rows };
    if (this.resizeTimer !== null) this.timers.clear(this.resizeTimer);
    this.resizeTimer = this.timers.set(() => {
      this.resizeTimer = null;
      this.sendSize();
    }, RESIZE_DEBOUNCE_MS);
  }

  // Ends the remote process; the stream's result (or error) then ends the session.
  close(): void {
    if (this.ended || this.closing) return;
    this.closing = true;
    this.call?.cancel();
  }

  get ended(): boolean {
    return this.state.kind === 'ended' || this.state.kind === 'failed';
  }

  private progress(ev: TerminalEvent): void {
    if (ev.kind === 'opened') {
      this.opened = ev;
      this.setState({ kind: 'live', opened: ev });
      const held = this.held;
      this.held = [];
      if (held.length) this.input(held.join(''));
      this.sendSize();
      return;
    }
    const n = ev.data.length;
    this.acks.receive(n);
    this.opts.write(ev.data, () => this.acks.written(n));
  }

  private sendSize(): void {
    if (!this.opened || this.ended) return;
    const { cols, rows } = this.size;
    if (cols === this.sentSize.cols && rows === this.sentSize.rows) return;
    if (cols < TERMINAL_LIMITS.minCols || rows < TERMINAL_LIMITS.minRows) return; // a collapsed panel: keep the last real size
    this.sentSize = { cols: Math.min(cols, TERMINAL_LIMITS.maxCols), rows: Math.min(rows, TERMINAL_LIMITS.maxRows) };
    this.send('terminal.resize', this.sentSize);
  }

  private send(op: 'terminal.input' | 'terminal.ack' | 'terminal.resize', rest: { data: string } | { chars: number } | { cols: number; rows: number }): void {
    if (!this.opened || this.ended) return;
    // A refused message means the session is gone; the stream's end says why.
    void this.opts.client.call(op, { session: this.opened.session, ...rest } as never).catch(() => undefined);
  }

  private finish(state: TerminalState): void {
    if (this.resizeTimer !== null) this.timers.clear(this.resizeTimer);
    this.resizeTimer = null;
    this.acks.close();
    this.setState(state);
  }

  private setState(state: TerminalState): void {
    this.state = state;
    this.opts.onState(state);
  }
}

// Splits text so that each part's UTF-8 form fits the input limit, never inside a character.
export function splitInput(data: string, maxBytes: number = TERMINAL_LIMITS.maxInputBytes): string[] {
  const parts: string[] = [];
  let start = 0;
  let bytes = 0;
  let i = 0;
  while (i < data.length) {
    const cp = data.codePointAt(i)!;
    const units = cp > 0xffff ? 2 : 1;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes) {
      parts.push(data.slice(start, i));
      start = i;
      bytes = 0;
    }
    bytes += size;
    i += units;
  }
  if (start < data.length) parts.push(data.slice(start));
  return parts;
}

export function targetLabel(target: TerminalTarget): string {
  return target.kind === 'app' ? `app ${target.app}` : `node ${target.node}`;
}

// What failed and what to do, for the error band.
export function describeTerminalError(err: unknown, target: TerminalTarget, wasOpen = false): TerminalProblem {
  const code = err instanceof ApiError ? err.code : 'internal';
  const detail = err instanceof Error ? err.message : String(err);
  const what = targetLabel(target);
  const hinted = (fallback: string) => (err instanceof ApiError && err.hint ? err.hint : fallback);
  if (wasOpen) {
    return {
      code,
      title: `The session on ${what} ended unexpectedly`,
      detail,
      hint: hinted('What ran until then is in the recording. Open a new terminal once the connection is back.'),
    };
  }
  switch (code) {
    case 'not_found':
      return {
        code,
        title: target.kind === 'app' ? `No running container for app ${target.app}` : `No node named ${target.node}`,
        detail,
        hint: hinted(target.kind === 'app' ? 'Check the app on the Apps page: deploy it if it never ran, start it if it is stopped.' : 'Check the name on the Nodes page.'),
      };
    case 'conflict':
      return { code, title: `The container of ${what} is not running`, detail, hint: hinted('Start the app (s on its page) or deploy it, then open the terminal again.') };
    case 'unreachable':
      return {
        code,
        title: `Cannot reach ${target.kind === 'app' ? `the node of app ${target.app}` : `node ${target.node}`}`,
        detail,
        hint: hinted('Check that the node is online on its page; open the terminal again once its agent is connected.'),
      };
    case 'unauthorized':
      return { code, title: 'Not signed in', detail, hint: hinted('Sign in again with the admin token, then open the terminal.') };
    case 'invalid_input':
      return { code, title: 'The terminal request was refused', detail, hint: hinted('This is a bug in the page; reload it and try again.') };
    case 'agent_failed':
      return { code, title: `The agent on ${what} could not start the session`, detail, hint: hinted("Look at the node's events for the agent's reason, then try again.") };
    default:
      return { code, title: `The terminal on ${what} could not be opened`, detail, hint: hinted('Try again; if it keeps failing, look at the audit log and the node events.') };
  }
}
