// A slot gate: a tiny HTTP server on one slot's IP that answers Caddy's active health check.
// 200 while the slot is in service, 503 otherwise. Opening and closing gates is how a deploy
// moves traffic between slots without touching Caddy's configuration.
import { createServer, type Server } from 'node:http';
import type { Logger } from '../logger';
import { HEALTH_CHECK_INTERVAL_MS, HEALTH_CHECK_TIMEOUT_MS, HEALTH_CHECK_URI } from './caddy-config';

export const GATE_OPEN_STATUS = 200;
export const GATE_CLOSED_STATUS = 503;
// After a change, the gate waits for this many health checks answered in the new state: Caddy
// has surely applied the first answer by the time it sends the next (one interval later).
export const GATE_CONFIRMING_CHECKS = 2;
// How long to wait for those checks: two intervals plus a timed-out check, with margin.
export const GATE_CONFIRM_DEADLINE_MS = 2 * HEALTH_CHECK_INTERVAL_MS + HEALTH_CHECK_TIMEOUT_MS + 2_000;

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

  private constructor(
    private readonly server: Server,
    private readonly opts: SlotGateOptions,
  ) {
    this.address = `${opts.ip}:${opts.port}`;
    this.state = opts.open ? 'open' : 'closed';
    server.on('request', (req, res) => {
      if (req.url !== HEALTH_CHECK_URI || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404).end();
        return;
      }
      const open = this.state === 'open';
      res.writeHead(open ? GATE_OPEN_STATUS : GATE_CLOSED_STATUS, { 'Content-Type': 'text/plain' });
      res.end(open ? 'in service\n' : 'out of service\n');
      this.checksInState++;
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  static start(opts: SlotGateOptions): Promise<SlotGate> {
    const server = createServer();
    server.keepAliveTimeout = 2 * HEALTH_CHECK_INTERVAL_MS + HEALTH_CHECK_TIMEOUT_MS;
    const gate = new SlotGate(server, opts);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new Error(`slot gate ${gate.address}: cannot listen: ${err.message}`));
      server.once('error', onError);
      server.listen(opts.port, opts.ip, () => {
        server.off('error', onError);
        opts.log?.info({ event: 'slot_gate_started', gate: gate.address, state: gate.state }, 'slot gate started');
        resolve(gate);
      });
    });
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
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.opts.log?.info({ event: 'slot_gate_stopped', gate: this.address }, 'slot gate stopped');
  }

  private set(state: GateState): void {
    if (this.state === state) return;
    this.state = state;
    this.checksInState = 0;
    this.opts.log?.info({ event: state === 'open' ? 'slot_gate_opened' : 'slot_gate_closed', gate: this.address }, `slot gate ${state}`);
  }
}
