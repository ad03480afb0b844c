// Running a command inside a container through Podman's exec API: create an exec session, start
// it attached, read its output, then ask for its exit code. No CLI anywhere.
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { LIBPOD_API_PREFIX, PodmanError, withContext, type PodmanClient } from './client';

export const EXEC_REQUEST_TIMEOUT_MS = 10_000;
// Each of stdout and stderr keeps at most this much of a run-to-completion exec; the rest is
// read and dropped.
export const DEFAULT_EXEC_OUTPUT_BYTES = 64 * 1024;
// After the output ends Podman may report the session as running for a moment.
const EXIT_CODE_WAIT_MS = 2_000;
const EXIT_CODE_POLL_MS = 20;
// Podman frames a non-TTY stream: 1 byte stream (1 stdout, 2 stderr), 3 zero bytes, 4 bytes length.
const FRAME_HEADER_BYTES = 8;

export interface ExecCreateSpec {
  cmd: string[];
  env?: Record<string, string>;
  user?: string;
  workingDir?: string;
  // A terminal: one raw stream instead of framed stdout/stderr (interactive sessions).
  tty?: boolean;
  attachStdin?: boolean;
}

export interface ExecInfo {
  id: string;
  running: boolean;
  // null while running.
  exitCode: number | null;
  // The exec process on the host (0 when it is not running).
  pid: number;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  // Some output went beyond maxOutputBytes and was dropped.
  truncated: boolean;
  durationMs: number;
}

export interface RunExecOptions {
  // The whole run: create, start, output and exit code. Past it the exec process is killed
  // where the agent may (best effort) and ExecTimeoutError is thrown.
  timeoutMs: number;
  maxOutputBytes?: number;
  env?: Record<string, string>;
  user?: string;
  workingDir?: string;
  signal?: AbortSignal;
}

export class ExecTimeoutError extends Error {
  constructor(
    message: string,
    readonly timeoutMs: number,
  ) {
    super(message);
    this.name = 'ExecTimeoutError';
  }
}

// Creates an exec session in a running container; returns its id.
export async function createExec(podman: PodmanClient, container: string, spec: ExecCreateSpec, signal?: AbortSignal): Promise<string> {
  if (spec.cmd.length === 0 || spec.cmd.some((a) => typeof a !== 'string')) throw new Error(`container ${container}: exec needs a command (argv)`);
  const res = await withContext(
    `container ${container}: exec ${spec.cmd.join(' ')}`,
    podman.json<{ Id: string }>(`/containers/${encodeURIComponent(container)}/exec`, {
      method: 'POST',
      body: {
        Cmd: spec.cmd,
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: spec.attachStdin ?? false,
        Tty: spec.tty ?? false,
        ...(spec.env ? { Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`) } : {}),
        ...(spec.user ? { User: spec.user } : {}),
        ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
      },
      timeoutMs: EXEC_REQUEST_TIMEOUT_MS,
      signal,
    }),
  );
  return res.Id;
}

// Starts an exec session attached; resolves with its output stream (framed unless tty), which
// ends when the command exits. Destroying it, or aborting signal, detaches.
export function startExec(podman: PodmanClient, id: string, options: { tty?: boolean; signal?: AbortSignal } = {}): Promise<IncomingMessage> {
  return withContext(
    `exec ${id.slice(0, 12)}: start`,
    podman.open(`/exec/${encodeURIComponent(id)}/start`, {
      method: 'POST',
      body: { Detach: false, Tty: options.tty ?? false },
      timeoutMs: 0,
      signal: options.signal,
    }),
  );
}

export async function inspectExec(podman: PodmanClient, id: string): Promise<ExecInfo> {
  const raw = await withContext(
    `exec ${id.slice(0, 12)}: inspect`,
    podman.json<{ ID?: string; Running: boolean; ExitCode: number; Pid?: number }>(`/exec/${encodeURIComponent(id)}/json`, { timeoutMs: EXEC_REQUEST_TIMEOUT_MS }),
  );
  return { id: raw.ID ?? id, running: raw.Running, exitCode: raw.Running ? null : raw.ExitCode, pid: raw.Pid ?? 0 };
}

// Runs cmd in the container to completion (no TTY, no stdin) and returns its exit code and its
// bounded output. Throws ExecTimeoutError past timeoutMs, a PodmanError when Podman refused (no
// such container, not running...).
export async function runExec(podman: PodmanClient, container: string, cmd: string[], options: RunExecOptions): Promise<ExecResult> {
  const started = Date.now();
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const onOuterAbort = () => controller.abort();
  if (options.signal?.aborted) controller.abort();
  else options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let id: string | undefined;
  try {
    id = await createExec(podman, container, { cmd, env: options.env, user: options.user, workingDir: options.workingDir }, controller.signal);
    const stream = await startExec(podman, id, { signal: controller.signal });
    const output = new ExecOutput(options.maxOutputBytes ?? DEFAULT_EXEC_OUTPUT_BYTES);
    for await (const chunk of stream) output.push(chunk as Buffer);
    const exitCode = await exitCodeOf(podman, id, controller.signal);
    return { exitCode, stdout: output.text(1), stderr: output.text(2), truncated: output.truncated, durationMs: Date.now() - started };
  } catch (err) {
    if (timedOut) {
      if (id) await killExec(podman, id);
      throw new ExecTimeoutError(`container ${container}: exec ${cmd.join(' ')} did not finish within ${options.timeoutMs} ms`, options.timeoutMs);
    }
    if (controller.signal.aborted) throw new Error(`container ${container}: exec ${cmd.join(' ')} cancelled`);
    if (err instanceof PodmanError) throw err;
    throw new PodmanError(`container ${container}: exec ${cmd.join(' ')}: ${(err as Error).message}`, podman.socketPath);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
}

async function exitCodeOf(podman: PodmanClient, id: string, signal: AbortSignal): Promise<number> {
  const until = Date.now() + EXIT_CODE_WAIT_MS;
  for (;;) {
    const info = await inspectExec(podman, id);
    if (info.exitCode !== null) return info.exitCode;
    if (Date.now() > until) throw new Error(`exec ${id.slice(0, 12)}: its output ended but Podman still reports it running`);
    if (signal.aborted) throw new Error('cancelled');
    await new Promise((r) => setTimeout(r, EXIT_CODE_POLL_MS));
  }
}

// Podman has no API to end an exec session: the agent signals the process itself when it may
// (the same user as the container's processes, as with rootless Podman); otherwise it is left.
async function killExec(podman: PodmanClient, id: string): Promise<void> {
  try {
    const { running, pid } = await inspectExec(podman, id);
    if (running && pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    // gone already, or not ours to kill
  }
}

// Demultiplexes Podman's framed output into stdout and stderr, keeping at most limit bytes of
// each; memory stays bounded however large a frame is.
export class ExecOutput {
  private readonly frames = new ExecFrameReader((stream, payload) => this.keep(stream, payload));
  private readonly kept: Record<1 | 2, Buffer[]> = { 1: [], 2: [] };
  private readonly size: Record<1 | 2, number> = { 1: 0, 2: 0 };
  truncated = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.frames.push(chunk);
  }

  text(stream: 1 | 2): string {
    return Buffer.concat(this.kept[stream]).toString('utf8');
  }

  private keep(stream: 1 | 2, payload: Buffer): void {
    const room = this.limit - this.size[stream];
    if (payload.length > room) this.truncated = true;
    const part = payload.subarray(0, Math.max(0, Math.min(room, payload.length)));
    if (part.length === 0) return;
    // A copy: the chunk's memory belongs to the stream.
    this.kept[stream].push(Buffer.from(part));
    this.size[stream] += part.length;
  }
}

// Starts an exec session attached WITH STDIN: Podman hijacks the HTTP connection (101, or 200 on
// some versions) and the socket becomes the process's raw bidirectional byte stream (framed
// output unless tty; what is written is stdin, end() closes stdin). Rejects with a PodmanError
// when Podman answers anything else. The caller owns the socket.
export function attachExec(podman: PodmanClient, id: string, options: { tty: boolean; timeoutMs?: number }): Promise<Socket> {
  const path = `${LIBPOD_API_PREFIX}/exec/${encodeURIComponent(id)}/start`;
  const body = JSON.stringify({ Detach: false, Tty: options.tty });
  const timeoutMs = options.timeoutMs ?? EXEC_REQUEST_TIMEOUT_MS;
  const where = `Podman at ${podman.socketPath}: POST ${path}`;
  return new Promise((resolve, reject) => {
    const socket = connect(podman.socketPath);
    let head = Buffer.alloc(0);
    const fail = (why: string, status?: number) => {
      socket.destroy();
      reject(new PodmanError(`exec ${id.slice(0, 12)}: start: ${where} ${why}`, podman.socketPath, status));
    };
    const timer = setTimeout(() => fail(`did not answer within ${timeoutMs} ms`), timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      fail(`failed: ${err.message}`);
    };
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_RESPONSE_HEAD_BYTES) {
          clearTimeout(timer);
          fail('sent an answer head that never ends');
        }
        return;
      }
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      const response = parseResponseHead(head.subarray(0, end).toString('latin1'));
      const rest = head.subarray(end + 4);
      if (response.status === 101 || response.status === 200) {
        socket.pause();
        if (rest.length) socket.unshift(rest);
        return resolve(socket);
      }
      readErrorBody(socket, rest).then((text) => fail(`answered HTTP ${response.status}: ${podmanMessage(text)}`, response.status));
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: podman\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n${body}`,
    );
  });
}

const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;
const MAX_ERROR_BODY_BYTES = 4 * 1024;

export function parseResponseHead(head: string): { status: number; headers: Record<string, string> } {
  const [statusLine, ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers };
}

function readErrorBody(socket: Socket, first: Buffer): Promise<string> {
  return new Promise((resolve) => {
    let body = first;
    const done = () => {
      clearTimeout(timer);
      resolve(body.subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8'));
    };
    const timer = setTimeout(done, EXEC_REQUEST_TIMEOUT_MS);
    socket.on('data', (c: Buffer) => {
      body = Buffer.concat([body, c]).subarray(0, MAX_ERROR_BODY_BYTES + 1);
      // One JSON object: Podman's error body.
      if (/\}\s*$/.test(body.toString('utf8'))) done();
    });
    socket.once('end', done);
    socket.once('error', done);
  });
}

function podmanMessage(body: string): string {
  const json = body.slice(body.indexOf('{'));
  try {
    const parsed = JSON.parse(json) as { message?: unknown };
    if (typeof parsed.message === 'string' && parsed.message) return parsed.message;
  } catch {
    // not JSON: quote it
  }
  return body.trim().slice(0, 300);
}

// The terminal size of a running exec session with a TTY (Podman refuses before it runs).
export async function resizeExec(podman: PodmanClient, id: string, cols: number, rows: number): Promise<void> {
  await withContext(
    `exec ${id.slice(0, 12)}: resize to ${cols}x${rows}`,
    podman.call(`/exec/${encodeURIComponent(id)}/resize`, { method: 'POST', query: { h: rows, w: cols }, timeoutMs: EXEC_REQUEST_TIMEOUT_MS }),
  );
}

// The exit code of an exec session whose output ended (Podman may report it running a moment).
export function execExitCode(podman: PodmanClient, id: string, signal: AbortSignal = new AbortController().signal): Promise<number> {
  return exitCodeOf(podman, id, signal);
}

// Splits Podman's framed (non-TTY) output as it arrives: each payload piece goes to onPayload
// with its stream at once, nothing is kept.
export class ExecFrameReader {
  private header: Buffer = Buffer.alloc(0);
  private stream: 1 | 2 = 1;
  private remaining = 0;

  constructor(private readonly onPayload: (stream: 1 | 2, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.remaining > 0) {
        const part = rest.subarray(0, this.remaining);
        this.remaining -= part.length;
        rest = rest.subarray(part.length);
        this.onPayload(this.stream, part);
        continue;
      }
      const need = FRAME_HEADER_BYTES - this.header.length;
      this.header = Buffer.concat([this.header, rest.subarray(0, need)]);
      rest = rest.subarray(need);
      if (this.header.length < FRAME_HEADER_BYTES) return;
      // 3 is Podman's own error text: it goes with stderr.
      this.stream = this.header[0] === 1 ? 1 : 2;
      this.remaining = this.header.readUInt32BE(4);
      this.header = Buffer.alloc(0);
    }
  }
}
