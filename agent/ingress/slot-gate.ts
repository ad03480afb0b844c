// A slot gate: a tiny HTTP server on one slot's IP that answers Caddy's active health check.
// 200 while the slot is in service, 503 otherwise. Opening and closing gates is how a deploy
// moves traffic between slots without touching Caddy's configuration.
// Caddy checks every slot every HEALTH_CHECK_INTERVAL_MS: with many apps that is hundreds of
// checks a second. Once Caddy has confirmed a closed gate, the gate stops listening: Caddy's
// next checks are refused by the kernel (still unhealthy) and cost the agent nothing, so only
// slots in service are answered.
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../logger';
import { HEALTH_CHECK_INTERVAL_MS, HEALTH_CHECK_TIMEOUT_MS, HEALTH_CHECK_URI } from './caddy-config';

export const GATE_OPEN_STATUS = 200;
export const GATE_CLOSED_STATUS = 503;
// After a change, the gate waits for this many health checks answered in the new state: Caddy
// has surely applied the first answer by the time it sends the next (one interval later).
export const GATE_CONFIRMING_CHECKS = 2;
// How long to wait for those checks: two intervals plus a timed-out check, with margin.
export const GATE_CONFIRM_DEADLINE_MS = 2 * HEALTH_CHECK_INTERVAL_MS + HEALTH_CHECK_TIMEOUT_MS + 2_000;

// Keep-alive connections from Caddy's health checker idle at most one interval between checks.
export const GATE_IDLE_TIMEOUT_MS = 2 * HEALTH_CHECK_INTERVAL_MS + HEALTH_CHECK_TIMEOUT_MS;
const MAX_REQUEST_BYTES = 8 * 1024;

export type GateState = 'open' | 'closed';

export interface SlotGateOptions {
  ip: string;
  port: number;
  // The state to answer from the first check (the agent restores it after a restart).
  open?: boolean;
  log?: Logger;
}

export class SlotGateConfirmTimeout extends Error {
  constructor(readonly address: string, readonly state: GateState, deadlineMs: number, seen: number) {
    super(
      `slot gate ${address}: Caddy did not confirm the gate ${state} within ${deadlineMs} ms ` +
        `(${seen} of ${GATE_CONFIRMING_CHECKS} health checks seen); is the app's route loaded in Caddy and is Caddy running?`,
    );
    this.name = 'SlotGateConfirmTimeout';
  }
}

export class SlotGate {
  readonly address: string;
  private state: GateState;
  private checksInState = 0;
  private waiters: Array<() => void> = [];
  private stopped = false;
  private server: Server | null = null;
  private listening: Promise<void> | null = null;
  private listenError: Error | null = null;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly opts: SlotGateOptions) {
    this.address = `${opts.ip}:${opts.port}`;
    this.state = opts.open ? 'open' : 'closed';
  }

  static async start(opts: SlotGateOptions): Promise<SlotGate> {
    const gate = new SlotGate(opts);
    await gate.listen();
    if (gate.listenError) throw gate.listenError;
    opts.log?.info({ event: 'slot_gate_started', gate: gate.address, state: gate.state }, 'slot gate started');
    return gate;
  }

  get current(): GateState {
    return this.state;
  }

  open(): void {
    this.set('open');
  }

  close(): void {
    this.set('closed');
  }

  // Resolves once Caddy has been told the current state by GATE_CONFIRMING_CHECKS checks.
  async confirm(deadlineMs = GATE_CONFIRM_DEADLINE_MS): Promise<void> {
    const state = this.state;
    const deadline = Date.now() + deadlineMs;
    while (this.checksInState < GATE_CONFIRMING_CHECKS) {
      if (this.stopped) throw new Error(`slot gate ${this.address}: stopped while confirming ${state}`);
      if (this.listenError) throw this.listenError;
      if (this.state !== state) throw new Error(`slot gate ${this.address}: changed to ${this.state} while confirming ${state}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new SlotGateConfirmTimeout(this.address, state, deadlineMs, this.checksInState);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.push(done);
      });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.waiters.splice(0)) wake();
    await this.unlisten();
    this.opts.log?.info({ event: 'slot_gate_stopped', gate: this.address }, 'slot gate stopped');
  }

  private set(state: GateState): void {
    if (this.state === state) return;
    this.state = state;
    this.checksInState = 0;
    // A closed gate answers 503 until Caddy has confirmed it, then stops listening (see the top).
    if (state === 'open' || !this.server) void this.listen();
    this.opts.log?.info({ event: state === 'open' ? 'slot_gate_opened' : 'slot_gate_closed', gate: this.address }, `slot gate ${state}`);
  }

  private listen(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.listening) return this.listening;
    this.listenError = null;
    const server = createServer((socket) => this.serve(socket));
    this.server = server;
    this.listening = new Promise<void>((resolve) => {
      const onError = (err: Error) => {
        this.listenError = new Error(`slot gate ${this.address}: cannot listen: ${err.message}`);
        this.server = null;
        this.listening = null;
        for (const wake of this.waiters.splice(0)) wake();
        resolve();
      };
      server.once('error', onError);
      server.listen(this.opts.port, this.opts.ip, () => {
        server.off('error', onError);
        resolve();
      });
    });
    return this.listening;
  }

  private async unlisten(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.listening = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // Caddy's checks are tiny keep-alive GETs, many a second per slot: they are answered from the
  // raw bytes (request line and the blank line ending the headers) without Node's HTTP machinery.
  private serve(socket: Socket): void {
    this.sockets.add(socket);
    let pending = '';
    socket.setEncoding('latin1');
    socket.setNoDelay(true);
    socket.setTimeout(GATE_IDLE_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('data', (chunk: string) => {
      pending += chunk;
      if (pending.length > MAX_REQUEST_BYTES) return socket.destroy();
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const [method, path] = pending.slice(0, pending.indexOf('\r\n')).split(' ');
        pending = pending.slice(end + 4);
        socket.write(this.answer(method, path));
      }
    });
  }

  private answer(method: string, path: string): string {
    if (path !== HEALTH_CHECK_URI || (method !== 'GET' && method !== 'HEAD')) return method === 'HEAD' ? RESPONSE_HEAD.notFound : RESPONSE.notFound;
    const open = this.state === 'open';
    this.checksInState++;
    for (const wake of this.waiters.splice(0)) wake();
    if (!open && this.checksInState >= GATE_CONFIRMING_CHECKS) queueMicrotask(() => this.state === 'closed' && void this.unlisten());
    const full = method === 'HEAD' ? RESPONSE_HEAD : RESPONSE;
    return open ? full.open : full.closed;
  }
}

function httpResponse(status: string, body: string, head: boolean): string {
  return `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${head ? '' : body}`;
}
const RESPONSE = {
  open: httpResponse(`${GATE_OPEN_STATUS} OK`, 'in service\n', false),
  closed: httpResponse(`${GATE_CLOSED_STATUS} Service Unavailable`, 'out of service\n', false),
  notFound: httpResponse('404 Not Found', '', false),
};
const RESPONSE_HEAD = {
  open: httpResponse(`${GATE_OPEN_STATUS} OK`, 'in service\n', true),
  closed: httpResponse(`${GATE_CLOSED_STATUS} Service Unavailable`, 'out of service\n', true),
  notFound: httpResponse('404 Not Found', '', true),
};
