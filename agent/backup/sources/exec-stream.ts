// A command's stdout as a backup source (a Readable of plain bytes, streamed with back-pressure)
// and a restore command fed from a Readable on its stdin. Both end with the command's exit code:
// non-zero fails with its stderr; the caller's cleanup (`finish`) runs before the end is told.
import { Readable } from 'node:stream';
import type { PodmanClient } from '../../podman/client';
import { type ExecCommand, ExecProcess, SourceCommandError } from './exec-process';

export interface ExecStreamOptions {
  // Runs exactly once when the command is over (done, failed or the stream destroyed), before
  // 'end' or 'error'; when it throws, the stream fails with that error.
  finish?: () => Promise<void>;
  // Stop the command when the stream is destroyed early (default). A helper container that is
  // removed right after does not need it.
  stopOnAbort?: boolean;
}

// Resolves once the command started; the stream carries its stdout. Destroying the stream
// stops the command, then runs finish; 'close' comes after both.
export async function openExecStream(podman: PodmanClient, command: ExecCommand, options: ExecStreamOptions = {}): Promise<Readable> {
  const exec = await ExecProcess.start(podman, command, false);
  return new ExecStdoutStream(exec, options);
}

class ExecStdoutStream extends Readable {
  private over = false;
  private finished?: Promise<void>;

  constructor(
    private readonly exec: ExecProcess,
    private readonly options: ExecStreamOptions,
  ) {
    super();
    const { socket } = exec;
    exec.stdout((data) => {
      if (!this.over && !this.push(data)) socket.pause();
    });
    socket.once('end', () => void this.settle());
    socket.once('error', (err) => void this.settle(new SourceCommandError(`${exec.command.what}: the connection to Podman failed: ${err.message}`)));
  }

  override _read(): void {
    this.exec.socket.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const early = !this.over;
    this.over = true;
    const stop = early && this.options.stopOnAbort !== false ? this.exec.abort() : Promise.resolve(this.exec.socket.destroy());
    stop
      .catch(() => undefined)
      .then(() => this.finishOnce())
      .then(
        () => callback(error),
        (err: Error) => callback(error ?? err),
      );
  }

  private async settle(failure?: Error): Promise<void> {
    if (this.over) return;
    this.over = true;
    let error = failure;
    if (error) await this.exec.abort().catch(() => undefined);
    else error = await this.exec.result().then(() => undefined, (err: Error) => err);
    try {
      await this.finishOnce();
    } catch (err) {
      error ??= err as Error;
    }
    if (error) this.destroy(error);
    else this.push(null);
  }

  private finishOnce(): Promise<void> {
    this.finished ??= this.options.finish?.() ?? Promise.resolve();
    return this.finished;
  }
}

export interface ExecInputOptions {
  // Aborting stops the command (its process group) and rejects; nothing more is read from input.
  signal?: AbortSignal;
}

// Runs the command with input on its stdin and resolves when it exited 0. When input fails or
// the signal aborts, the command is killed, not given end-of-input, so it cannot take a
// truncated stream for a whole one. When the command fails first, input is destroyed.
export async function runExecWithInput(podman: PodmanClient, command: ExecCommand, input: Readable, options: ExecInputOptions = {}): Promise<void> {
  if (options.signal?.aborted) throw new SourceCommandError(`${command.what}: cancelled before it started`);
  const exec = await ExecProcess.start(podman, command, true);
  const { socket } = exec;
  return new Promise<void>((resolve, reject) => {
    let over = false;
    const done = (work: () => Promise<void>) => {
      if (over) return;
      over = true;
      options.signal?.removeEventListener('abort', onAbort);
      input.unpipe(socket);
      work().then(
        () => {
          socket.destroy();
          resolve();
        },
        (err: Error) => {
          socket.destroy();
          if (!input.readableEnded) input.destroy();
          reject(err);
        },
      );
    };
    const stopWith = (error: SourceCommandError) => done(() => exec.abort().then(() => Promise.reject(error)));
    const onAbort = () => stopWith(new SourceCommandError(`${command.what}: cancelled; the command was stopped before the end of its input`));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    input.once('error', (err) => stopWith(new SourceCommandError(`${command.what}: its input failed: ${err.message}; the command was stopped before the end of its input`)));
    // A command that exits early closes the connection; the exit code then says what happened.
    socket.on('error', () => undefined);
    socket.once('close', () => done(() => exec.result()));
    socket.resume();
    input.pipe(socket);
  });
}
