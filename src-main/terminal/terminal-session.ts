// One live terminal: the gRPC stream to the agent, its recording, and output flow control toward
// the client (TERMINAL_FLOW): the stream is paused while too much output is unacknowledged, which
// pushes back through gRPC to the agent and Podman, so a flood moves at the client's pace.
import { status, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import type { TerminalExit, TerminalInput, TerminalOpened, TerminalOutput } from '../../proto/gen/podploy/agent/v1/agent';
import { TERMINAL_FLOW } from '../../proto/terminal-defaults';
import { ApiError, type TerminalEvent } from '../api/contract';
import type { RecordingWriter } from './recording-writer';

export type AgentTerminalStream = ClientDuplexStream<TerminalInput, TerminalOutput>;

// After the caller closed the session, how long the agent has to end the process and report.
export const TERMINAL_CLOSE_GRACE_MS = 3_000;
// How long the agent has to answer `opened` (it may resolve and start the container's shell).
export const TERMINAL_OPEN_DEADLINE_MS = 30_000;
export const REASON_CLOSED = 'closed by the operator';
export const REASON_AGENT_BROKE = 'the connection to the agent broke';

export interface SessionEnd {
  exitCode: number | null;
  reason: string;
  // Ended by a fault (connection, agent, recording), not by the process or the operator.
  broke: boolean;
}

// Waits for the agent's `opened`; maps a refusal to an ApiError. The stream comes back paused
// so nothing is missed until the session takes it over.
export function awaitOpened(stream: AgentTerminalStream, where: { node: string; what: string }, signal?: AbortSignal): Promise<TerminalOpened> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      stream.cancel();
      reject(new ApiError('agent_failed', `node '${where.node}' did not open the terminal into ${where.what} within ${TERMINAL_OPEN_DEADLINE_MS / 1000} s`, 'look at the agent log on the node'));
    }, TERMINAL_OPEN_DEADLINE_MS);
    const onAbort = () => stream.cancel();
    const stop = () => {
      // A cancel after this point reports CANCELLED to no one.
      stream.on('error', () => undefined);
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      stream.off('data', onData);
      stream.off('error', onError);
      stream.off('end', onEnd);
    };
    const onData = (m: TerminalOutput) => {
      stream.pause();
      stop();
      if (m.opened) resolve(m.opened);
      else {
        stream.cancel();
        reject(new ApiError('agent_failed', `node '${where.node}' answered the terminal open with something other than 'opened'`, 'update the agent on the node (podploy node add again)'));
      }
    };
    const onError = (err: ServiceError) => {
      stop();
      reject(signal?.aborted ? new ApiError('conflict', `the terminal into ${where.what} was closed before it opened`) : refusal(err, where));
    };
    const onEnd = () => {
      stop();
      reject(new ApiError('agent_failed', `node '${where.node}' ended the terminal into ${where.what} before it opened`, 'look at the agent log on the node'));
    };
    stream.on('data', onData);
    stream.on('error', onError);
    stream.on('end', onEnd);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function refusal(err: ServiceError, where: { node: string; what: string }): ApiError {
  const why = err.details || err.message;
  switch (err.code) {
    case status.NOT_FOUND:
      return new ApiError('not_found', `node '${where.node}' found no ${where.what}: ${why}`, 'see what runs with `podploy ps`');
    case status.FAILED_PRECONDITION:
      return new ApiError('conflict', `${where.what} on node '${where.node}' cannot take a terminal now: ${why}`, 'start it (podploy app start APP) or deploy it, then try again');
    case status.PERMISSION_DENIED:
      return new ApiError('agent_failed', `node '${where.node}' refused the signed terminal open: ${why}`, "check that the node's clock is right and that it was onboarded by this control plane");
    case status.INVALID_ARGUMENT:
      return new ApiError('invalid_input', `node '${where.node}' refused the terminal open: ${why}`);
    case status.UNIMPLEMENTED:
      return new ApiError('agent_failed', `the agent on node '${where.node}' has no terminals: ${why}`, 'update the agent (podploy node add again)');
    case status.UNAVAILABLE:
      return new ApiError('unreachable', `the connection to node '${where.node}' broke while opening the terminal: ${why}`, 'try again once the node is online (podploy node list)');
    default:
      return new ApiError('agent_failed', `node '${where.node}' failed to open the terminal into ${where.what}: ${why}`, 'look at the agent log on the node');
  }
}

export class TerminalSession {
  inputBytes = 0;
  outputBytes = 0;
  readonly done: Promise<SessionEnd>;
  private unacked = 0;
  private paused = false;
  private closing = false;
  private finished = false;
  private exit: TerminalExit | null = null;
  private fault: string | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private readonly outDecoder = new TextDecoder('utf-8');
  private readonly errDecoder = new TextDecoder('utf-8');

  constructor(
    readonly id: string,
    readonly actor: string,
    private readonly stream: AgentTerminalStream,
    private readonly recorder: RecordingWriter,
    private readonly emit: (e: TerminalEvent) => void,
  ) {
    this.done = new Promise((resolve) => {
      const finish = (end: SessionEnd) => {
        if (this.finished) return;
        this.finished = true;
        if (this.graceTimer) clearTimeout(this.graceTimer);
        this.out('output', this.outDecoder.decode());
        this.out('stderr', this.errDecoder.decode());
        resolve(end);
      };
      stream.on('data', (m: TerminalOutput) => this.onMessage(m));
      stream.on('end', () => finish(this.endState(null)));
      stream.on('error', (err: ServiceError) => finish(this.endState(err)));
    });
    stream.resume();
  }

  // Written now, in call order: keystroke order is the order of the calls.
  input(data: string): void {
    this.writable();
    this.stream.write({ data: Buffer.from(data, 'utf8') });
    this.inputBytes += Buffer.byteLength(data);
    this.recorder.input(data);
  }

  resize(cols: number, rows: number): void {
    this.writable();
    this.stream.write({ resize: { cols, rows } });
    this.recorder.resize(cols, rows);
  }

  stdinEof(): void {
    this.writable();
    this.stream.write({ stdinEof: true });
  }

  ack(chars: number): void {
    this.unacked = Math.max(0, this.unacked - chars);
    if (this.paused && this.unacked <= TERMINAL_FLOW.lowWaterChars) this.flowOn();
  }

  get inFlightChars(): number {
    return this.unacked;
  }

  // Ends the session: half-close (the agent ends the process and reports its exit), then cancel
  // if the agent does not within the grace. Output keeps being recorded until the end.
  close(fault?: string): void {
    if (fault && !this.fault) this.fault = fault;
    if (this.closing || this.finished) return;
    this.closing = true;
    this.flowOn();
    this.stream.end();
    this.graceTimer = setTimeout(() => this.stream.cancel(), TERMINAL_CLOSE_GRACE_MS);
    this.graceTimer.unref();
  }

  private writable(): void {
    if (this.finished) throw new ApiError('not_found', `terminal session ${this.id} has ended`);
    if (this.closing) throw new ApiError('conflict', `terminal session ${this.id} is closing`);
  }

  private flowOn(): void {
    if (!this.paused) return;
    this.paused = false;
    this.stream.resume();
  }

  private onMessage(m: TerminalOutput): void {
    if (m.data) {
      this.outputBytes += m.data.length;
      this.out('output', this.outDecoder.decode(m.data, { stream: true }));
    } else if (m.stderr) {
      this.outputBytes += m.stderr.length;
      this.out('stderr', this.errDecoder.decode(m.stderr, { stream: true }));
    } else if (m.exit) {
      this.exit = m.exit;
    }
  }

  private out(kind: 'output' | 'stderr', data: string): void {
    if (data.length === 0) return;
    this.recorder.output(data);
    this.emit({ kind, data });
    this.unacked += data.length;
    if (!this.paused && !this.closing && this.unacked > TERMINAL_FLOW.highWaterChars) {
      this.paused = true;
      this.stream.pause();
    }
  }

  private endState(err: ServiceError | null): SessionEnd {
    if (this.fault) return { exitCode: this.exit?.code ?? null, reason: this.fault, broke: true };
    if (this.exit) {
      const exitCode = this.exit.code < 0 ? null : this.exit.code;
      return { exitCode, reason: this.closing && exitCode === null ? REASON_CLOSED : this.exit.reason || 'exited', broke: false };
    }
    if (this.closing && (!err || err.code === status.CANCELLED)) return { exitCode: null, reason: REASON_CLOSED, broke: false };
    if (!err || err.code === status.UNAVAILABLE || err.code === status.CANCELLED) return { exitCode: null, reason: REASON_AGENT_BROKE, broke: true };
    return { exitCode: null, reason: `the agent failed the session: ${err.details || err.message}`, broke: true };
  }
}
