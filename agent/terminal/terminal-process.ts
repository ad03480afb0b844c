// What the Terminal RPC drives, whether it runs in a container or on the node.
import type { TerminalOpened } from '../../proto/gen/podploy/agent/v1/agent';
import type { LiveTerminal } from './live-sessions';

export type OutputStream = 'data' | 'stderr';

export interface TerminalExitInfo {
  code: number;
  reason: string;
}

export interface TerminalProcess {
  readonly opened: TerminalOpened;
  // What the node must end if the agent dies (persisted while the session runs).
  readonly live: LiveTerminal;
  // Output starts flowing once a listener is set; pause() stops reading from the source.
  onOutput(listener: (stream: OutputStream, chunk: Buffer) => void): void;
  pause(): void;
  resume(): void;
  // False: the input buffer is full; wait for onInputDrain before writing more.
  write(data: Buffer): boolean;
  onInputDrain(listener: () => void): void;
  // No more input (stdin EOF); the process goes on.
  endInput(): void;
  resize(cols: number, rows: number): void;
  // Resolves once the process ended and all its output was given to the listener.
  readonly exited: Promise<TerminalExitInfo>;
  // Ends the process and everything it started (SIGHUP, SIGKILL after the grace).
  kill(): Promise<void>;
}

// Coalesces resizes: one runs at a time, and only the latest wish runs next. push() resolves once
// that wish (or a later one) was applied.
export class ResizeQueue {
  private draining: Promise<void> | undefined;
  private next: { cols: number; rows: number } | undefined;

  constructor(private readonly apply: (cols: number, rows: number) => Promise<void>) {}

  push(cols: number, rows: number): Promise<void> {
    this.next = { cols, rows };
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
    return this.draining;
  }

  private async drain(): Promise<void> {
    while (this.next) {
      const { cols, rows } = this.next;
      this.next = undefined;
      await this.apply(cols, rows).catch(() => undefined);
    }
  }
}
