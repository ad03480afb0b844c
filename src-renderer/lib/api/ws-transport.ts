// WebSocket transport for the browser (`podploy serve`): authenticates with the admin token on
// every connection, reconnects with back-off, re-subscribes the topics in use, and answers calls
// it cannot deliver with an 'unreachable' error instead of leaving them hanging.
import type { ApiErrorShape, ClientMessage, ServerMessage, TopicName, Transport } from '../../../src-main/api/contract';

export const RECONNECT_MIN_MS = 500;
export const RECONNECT_MAX_MS = 15_000;
export const CONNECT_TIMEOUT_MS = 10_000;

export type ConnectionState =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'ready'; user: string; generation: number }
  | { kind: 'offline'; retryAt: number; reason: string }
  | { kind: 'unauthorized'; message: string }
  | { kind: 'closed' };

export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

export interface WsTransportOptions {
  url: string;
  token: string;
  source?: 'browser' | 'cli';
  createSocket?: (url: string) => SocketLike;
  random?: () => number;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

const OPEN = 1;

export function apiSocketUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/api/ws`;
}

// Full jitter: a random wait up to an exponentially growing ceiling.
export function backoffMs(attempt: number, random = Math.random): number {
  const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(RECONNECT_MIN_MS / 2 + random() * (ceiling - RECONNECT_MIN_MS / 2));
}

export class WsTransport implements Transport {
  private handlers = new Set<(msg: ServerMessage) => void>();
  private stateHandlers = new Set<(s: ConnectionState) => void>();
  private socket: SocketLike | null = null;
  private ready = false;
  private queue: ClientMessage[] = [];
  private inFlight = new Set<number>();
  private topics = new Set<TopicName>();
  private attempt = 0;
  private generation = 0;
  private timer: unknown = null;
  private stopped = false;
  private _state: ConnectionState = { kind: 'connecting', attempt: 1 };
  private readonly createSocket: (url: string) => SocketLike;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (t: unknown) => void;
  private readonly now: () => number;

  constructor(private opts: WsTransportOptions) {
    this.createSocket = opts.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike);
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>));
    this.now = opts.now ?? Date.now;
    this.connect();
  }

  get state(): ConnectionState {
    return this._state;
  }

  onMessage(handler: (msg: ServerMessage) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  onState(handler: (s: ConnectionState) => void): () => void {
    this.stateHandlers.add(handler);
    handler(this._state);
    return () => this.stateHandlers.delete(handler);
  }

  send(msg: ClientMessage): void {
    if (msg.type === 'subscribe') this.topics.add(msg.topic);
    if (msg.type === 'unsubscribe') this.topics.delete(msg.topic);
    if (this.ready && this.socket?.readyState === OPEN) {
      this.write(msg);
      return;
    }
    if (msg.type === 'subscribe' || msg.type === 'unsubscribe') return; // re-sent from `topics` once ready
    if (msg.type !== 'call') return;
    if (this._state.kind === 'connecting') {
      this.queue.push(msg);
      return;
    }
    this.failCall(msg.id, this.unavailableError());
  }

  // Reconnects now instead of waiting for the back-off timer.
  retryNow(): void {
    if (this.stopped || this._state.kind !== 'offline') return;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.connect();
  }

  close(): void {
    this.stopped = true;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.socket?.close(1000, 'closed by the client');
    this.socket = null;
    this.dropCalls({ code: 'unreachable', message: 'the connection was closed' });
    this.setState({ kind: 'closed' });
  }

  private connect(): void {
    this.attempt += 1;
    this.ready = false;
    this.setState({ kind: 'connecting', attempt: this.attempt });
    let socket: SocketLike;
    try {
      socket = this.createSocket(this.opts.url);
    } catch (err) {
      this.lost(`cannot open ${this.opts.url}: ${(err as Error).message}`);
      return;
    }
    this.socket = socket;
    const timeout = this.setTimer(() => {
      if (this.socket === socket && !this.ready) socket.close(4000, 'connect timeout');
    }, CONNECT_TIMEOUT_MS);
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: 'auth', token: this.opts.token, source: this.opts.source ?? 'browser' }));
    };
    socket.onmessage = (ev) => {
      if (this.socket !== socket) return;
      let msg: ServerMessage;
      try {
        msg = JSON.parse(String(ev.data)) as ServerMessage;
      } catch {
        return;
      }
      this.receive(msg, socket, timeout);
    };
    socket.onerror = () => {
      // onclose follows and carries the decision.
    };
    socket.onclose = (ev) => {
      this.clearTimer(timeout);
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped || this._state.kind === 'unauthorized') return;
      this.lost(ev.reason || (this.ready ? 'the connection to the control plane dropped' : 'the control plane is not reachable'));
    };
  }

  private receive(msg: ServerMessage, socket: SocketLike, timeout: unknown): void {
    if (!this.ready) {
      if (msg.type === 'ready') {
        this.clearTimer(timeout);
        this.ready = true;
        this.attempt = 0;
        this.generation += 1;
        for (const topic of this.topics) this.write({ type: 'subscribe', topic });
        const queued = this.queue;
        this.queue = [];
        for (const m of queued) this.write(m);
        this.setState({ kind: 'ready', user: msg.session.user, generation: this.generation });
        return;
      }
      if (msg.type === 'error' && msg.id === null && msg.error.code === 'unauthorized') {
        this.clearTimer(timeout);
        this.setState({ kind: 'unauthorized', message: msg.error.message });
        this.dropCalls(msg.error);
        socket.close(1000, 'unauthorized');
        return;
      }
    }
    if ((msg.type === 'result' || msg.type === 'error') && msg.id !== null) this.inFlight.delete(msg.id);
    this.emit(msg);
  }

  private write(msg: ClientMessage): void {
    if (msg.type === 'call') this.inFlight.add(msg.id);
    this.socket!.send(JSON.stringify(msg));
  }

  private lost(reason: string): void {
    this.ready = false;
    this.dropCalls({ code: 'unreachable', message: reason, hint: 'PodPloy reconnects by itself; retry once it is back' });
    const wait = backoffMs(this.attempt, this.opts.random);
    this.setState({ kind: 'offline', retryAt: this.now() + wait, reason });
    this.timer = this.setTimer(() => {
      this.timer = null;
      if (!this.stopped) this.connect();
    }, wait);
  }

  private dropCalls(error: ApiErrorShape): void {
    const ids = [...this.inFlight, ...this.queue.flatMap((m) => (m.type === 'call' ? [m.id] : []))];
    this.inFlight.clear();
    this.queue = [];
    for (const id of ids) this.failCall(id, error);
  }

  private failCall(id: number, error: ApiErrorShape): void {
    this.emit({ type: 'error', id, error });
  }

  private unavailableError(): ApiErrorShape {
    const s = this._state;
    if (s.kind === 'unauthorized') return { code: 'unauthorized', message: s.message };
    const reason = s.kind === 'offline' ? s.reason : 'the connection is closed';
    return { code: 'unreachable', message: reason, hint: 'PodPloy reconnects by itself; retry once it is back' };
  }

  private emit(msg: ServerMessage): void {
    for (const h of this.handlers) h(msg);
  }

  private setState(s: ConnectionState): void {
    this._state = s;
    for (const h of this.stateHandlers) h(s);
  }
}
