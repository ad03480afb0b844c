import { describe, expect, it } from 'vitest';
import { ApiClient, procedures, type ClientMessage, type ProcedureName, type RecordingSummary, type ServerMessage, type Transport } from '../../src-main/api/contract';
import { TERMINAL_FLOW, TERMINAL_LIMITS } from '../../proto/terminal-defaults';
import { ACK_IDLE_MS } from './terminal-flow';
import { describeTerminalError, RESIZE_DEBOUNCE_MS, splitInput, TerminalSession, type TerminalState } from './terminal-session';
import { manualTimers } from './terminal-test-timers';

// STAND-IN for the control plane's terminal handlers (src-main/terminal, another helper's
// unfinished work): it checks every message against the real contract's schemas, answers
// terminal.open the way the control brief specifies (opened, output, result; cancel ends the
// session) and applies TERMINAL_FLOW: it stops sending above highWaterChars unacknowledged.
class StandInControlPlane implements Transport {
  private handler: (msg: ServerMessage) => void = () => undefined;
  readonly calls: { op: ProcedureName; input: Record<string, unknown> }[] = [];
  openId = -1;
  openInput: Record<string, unknown> | null = null;
  unacked = 0;
  maxUnacked = 0;
  sentChars = 0;
  private floodLeft = 0;
  failOpen: { code: 'not_found' | 'unreachable'; message: string; hint?: string } | null = null;

  onMessage(handler: (msg: ServerMessage) => void): void {
    this.handler = handler;
  }

  send(msg: ClientMessage): void {
    if (msg.type === 'cancel' && msg.id === this.openId) queueMicrotask(() => this.end(null, 'closed by the operator'));
    if (msg.type !== 'call') return;
    const parsed = procedures[msg.op].input.safeParse(msg.input);
    if (!parsed.success) {
      this.emit({ type: 'error', id: msg.id, error: { code: 'invalid_input', message: parsed.error.message } });
      return;
    }
    const input = parsed.data as Record<string, unknown>;
    this.calls.push({ op: msg.op, input });
    if (msg.op === 'terminal.open') {
      this.openId = msg.id;
      this.openInput = input;
      queueMicrotask(() => {
        if (this.failOpen) this.emit({ type: 'error', id: msg.id, error: this.failOpen });
        else this.emit({ type: 'progress', id: msg.id, progress: { kind: 'opened', session: 'rec_1', node: 'n1', app: 'web', container: 'podploy-web-v1', command: [], user: 'admin', banner: 'This session is recorded (rec_1).' } });
      });
      return;
    }
    if (msg.op === 'terminal.ack') {
      this.unacked -= input.chars as number;
      this.pump();
    }
    queueMicrotask(() => this.emit({ type: 'result', id: msg.id, result: {} }));
  }

  output(data: string): void {
    this.unacked += data.length;
    this.maxUnacked = Math.max(this.maxUnacked, this.unacked);
    this.sentChars += data.length;
    this.emit({ type: 'progress', id: this.openId, progress: { kind: 'output', data } });
  }

  flood(total: number): void {
    this.floodLeft = total;
    this.pump();
  }

  private pump(): void {
    while (this.floodLeft > 0 && this.unacked < TERMINAL_FLOW.highWaterChars) {
      const n = Math.min(16 * 1024, this.floodLeft);
      this.floodLeft -= n;
      this.output('y\n'.repeat(n / 2));
    }
  }

  end(exitCode: number | null, reason: string): void {
    const recording = { id: 'rec_1', state: 'ended', exitCode } as RecordingSummary;
    this.emit({ type: 'result', id: this.openId, result: { session: 'rec_1', exitCode, reason, recording } });
  }

  breakConnection(): void {
    this.emit({ type: 'error', id: this.openId, error: { code: 'unreachable', message: 'the connection to the control plane dropped' } });
  }

  ops(op: ProcedureName) {
    return this.calls.filter((c) => c.op === op).map((c) => c.input);
  }

  private emit(msg: ServerMessage): void {
    this.handler(msg);
  }
}

const settle = () => new Promise((r) => setTimeout(r, 0));

// xterm's write(data, callback): the callback runs once the screen has taken the data, later.
class ScreenStandIn {
  text = '';
  private queue: { data: string; done: () => void }[] = [];
  write = (data: string, done: () => void) => this.queue.push({ data, done });
  drain(max = Infinity): void {
    for (const w of this.queue.splice(0, max)) {
      this.text += w.data;
      w.done();
    }
  }
  get waiting(): number {
    return this.queue.length;
  }
}

function setup(opts: { target?: { kind: 'app'; app: string } | { kind: 'node'; node: string } } = {}) {
  const server = new StandInControlPlane();
  const client = new ApiClient(server);
  const screen = new ScreenStandIn();
  const timers = manualTimers();
  const states: TerminalState[] = [];
  const session = new TerminalSession({ client, target: opts.target ?? { kind: 'app', app: 'web' }, cols: 100, rows: 30, write: screen.write, onState: (s) => states.push(s), timers });
  return { server, screen, timers, states, session };
}

describe('TerminalSession', () => {
  it('opens at the given size, holds typing until the session is open, keeps input in order, writes output and ends with the exit code', async () => {
    const { server, screen, states, session } = setup();
    session.open();
    session.input('l');
    session.input('s\r');
    expect(server.ops('terminal.input')).toEqual([]);
    await settle();
    expect(server.openInput).toMatchObject({ target: { kind: 'app', app: 'web' }, tty: true, cols: 100, rows: 30, command: [] });
    expect(states.map((s) => s.kind)).toEqual(['live']);
    session.input('exit\r');
    expect(server.ops('terminal.input')).toEqual([
      { session: 'rec_1', data: 'ls\r' },
      { session: 'rec_1', data: 'exit\r' },
    ]);
    server.output('a  b\r\n');
    screen.drain();
    expect(screen.text).toBe('a  b\r\n');
    server.end(0, 'exited');
    await settle();
    expect(states.at(-1)).toMatchObject({ kind: 'ended', exitCode: 0, reason: 'exited', recording: { id: 'rec_1' }, opened: { session: 'rec_1' } });
    session.input('late');
    expect(server.ops('terminal.input')).toHaveLength(2);
  });

  it('keeps a flood within the high-water mark and acknowledges everything written, in batches', async () => {
    const { server, screen, timers, session } = setup();
    session.open();
    await settle();
    const total = 3 * 1024 * 1024 + 1000;
    server.flood(total);
    expect(server.sentChars).toBeLessThan(total); // paused: the screen has not written anything yet
    // The screen keeps up in steps; the output never pauses, so no idle flush is needed.
    for (let i = 0; i < 1000 && (screen.waiting || server.sentChars < total); i++) screen.drain(3);
    expect(server.unacked).toBeGreaterThan(0);
    expect(server.unacked).toBeLessThan(TERMINAL_FLOW.ackEveryChars);
    timers.run(ACK_IDLE_MS);
    expect(server.sentChars).toBe(total);
    expect(screen.text.length).toBe(total);
    expect(server.maxUnacked).toBeLessThanOrEqual(TERMINAL_FLOW.highWaterChars + 16 * 1024);
    expect(server.unacked).toBe(0);
    expect(session.flow).toEqual({ received: total, acked: total });
    const acks = server.ops('terminal.ack').map((a) => a.chars as number);
    expect(acks.slice(0, -1).every((n) => n >= TERMINAL_FLOW.ackEveryChars)).toBe(true);
  });

  it('sends the settled size once, not every step of a drag, and nothing it already sent', async () => {
    const { server, timers, session } = setup();
    session.open();
    await settle();
    for (let c = 101; c <= 140; c++) {
      session.resize(c, 40);
      timers.run(RESIZE_DEBOUNCE_MS / 4);
    }
    expect(server.ops('terminal.resize')).toEqual([]);
    timers.run(RESIZE_DEBOUNCE_MS);
    expect(server.ops('terminal.resize')).toEqual([{ session: 'rec_1', cols: 140, rows: 40 }]);
    session.resize(140, 40);
    session.resize(1, 0); // a collapsed panel
    timers.run(RESIZE_DEBOUNCE_MS);
    expect(server.ops('terminal.resize')).toHaveLength(1);
  });

  it('sends a size changed while connecting once the session opens', async () => {
    const { server, timers, session } = setup();
    session.open();
    session.resize(90, 20);
    timers.run(RESIZE_DEBOUNCE_MS);
    await settle();
    expect(server.ops('terminal.resize')).toEqual([{ session: 'rec_1', cols: 90, rows: 20 }]);
  });

  it('closes by cancelling the call, and the result ends the session', async () => {
    const { server, states, session } = setup();
    session.open();
    await settle();
    session.close();
    await settle();
    expect(states.at(-1)).toMatchObject({ kind: 'ended', reason: 'closed by the operator', exitCode: null });
    expect(server.ops('terminal.open')).toHaveLength(1);
  });

  it('says what failed and what to do when the open is refused', async () => {
    const { server, states, session } = setup({ target: { kind: 'node', node: 'edge' } });
    server.failOpen = { code: 'unreachable', message: 'node edge is offline' };
    session.open();
    await settle();
    const last = states.at(-1)!;
    expect(last.kind).toBe('failed');
    if (last.kind !== 'failed') return;
    expect(last.opened).toBeNull();
    expect(last.problem).toMatchObject({ code: 'unreachable', title: 'Cannot reach node edge', detail: 'node edge is offline' });
    expect(last.problem.hint).toMatch(/online/);
  });

  it('tells a broken connection after the open apart, and keeps the opened session for the recording link', async () => {
    const { server, states, session } = setup();
    session.open();
    await settle();
    server.breakConnection();
    await settle();
    const last = states.at(-1)!;
    expect(last).toMatchObject({ kind: 'failed', opened: { session: 'rec_1' }, problem: { title: 'The session on app web ended unexpectedly' } });
  });
});

describe('describeTerminalError', () => {
  it("prefers the control plane's own hint and names the target", async () => {
    const { ApiError } = await import('../../src-main/api/contract');
    const p = describeTerminalError(new ApiError('not_found', 'app web has no running container', 'deploy web first'), { kind: 'app', app: 'web' });
    expect(p).toEqual({ code: 'not_found', title: 'No running container for app web', detail: 'app web has no running container', hint: 'deploy web first' });
    expect(describeTerminalError(new ApiError('conflict', 'stopped'), { kind: 'app', app: 'web' }).hint).toMatch(/Start the app/);
    expect(describeTerminalError(new Error('boom'), { kind: 'node', node: 'n1' }).title).toBe('The terminal on node n1 could not be opened');
  });
});

describe('splitInput', () => {
  it('splits a large paste below the input limit without cutting a character', () => {
    const paste = 'aé世🙂'.repeat(20_000);
    const parts = splitInput(paste);
    expect(parts.join('')).toBe(paste);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) {
      expect(new TextEncoder().encode(p).length).toBeLessThanOrEqual(TERMINAL_LIMITS.maxInputBytes);
      expect(p.length).toBeLessThanOrEqual(TERMINAL_LIMITS.maxInputBytes);
      expect(/^[\uDC00-\uDFFF]/.test(p)).toBe(false);
    }
    expect(splitInput('abcdef', 4)).toEqual(['abcd', 'ef']);
    expect(splitInput('')).toEqual([]);
  });
});
