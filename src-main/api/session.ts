import { ApiError, topics, type ClientMessage, type ServerMessage, type TopicName } from './contract';
import { toApiError, type CallContext, type Router } from './router';

export interface SessionOptions {
  preAuthenticated?: boolean;
  // Checks a bearer token; returns the actor it belongs to, or null.
  authenticate?: (token: string) => string | null;
  version?: string;
  // Bytes queued on the connection and not yet sent (a WebSocket's bufferedAmount).
  backlog?: () => number;
}

// One client connection (a WebSocket, an Electron webContents): authentication, calls with
// progress, and topic subscriptions. Shared by every transport so they behave identically.
export class ApiSession {
  private authed: boolean;
  private unsubscribers = new Map<TopicName, () => void>();
  private closed = false;
  // The calls in flight, so a cancel message or the connection's end can stop them.
  private calls = new Map<number, AbortController>();

  constructor(
    private router: Router,
    private ctx: CallContext,
    private send: (msg: ServerMessage) => void,
    private opts: SessionOptions = {},
  ) {
    this.authed = !!opts.preAuthenticated;
    if (this.authed) this.ready();
  }

  get authenticated(): boolean {
    return this.authed;
  }

  handle(raw: unknown): void {
    if (this.closed) return;
    const msg = raw as ClientMessage;
    if (!msg || typeof msg !== 'object' || typeof (msg as { type?: unknown }).type !== 'string') {
      this.send({ type: 'error', id: null, error: new ApiError('invalid_input', 'malformed message').toJSON() });
      return;
    }
    if (msg.type === 'auth') return this.auth(msg.token, msg.source);
    if (!this.authed) {
      this.send({
        type: 'error',
        id: msg.type === 'call' && typeof msg.id === 'number' ? msg.id : null,
        error: new ApiError('unauthorized', 'not authenticated', 'send the admin token first').toJSON(),
      });
      return;
    }
    switch (msg.type) {
      case 'call':
        return void this.call(msg.id, msg.op, msg.input);
      case 'subscribe':
        return this.subscribe(msg.topic);
      case 'unsubscribe':
        this.unsubscribers.get(msg.topic)?.();
        this.unsubscribers.delete(msg.topic);
        return;
      case 'cancel':
        // Unknown or finished ids are fine: the call may have ended meanwhile.
        if (typeof msg.id === 'number') this.calls.get(msg.id)?.abort();
        return;
      default:
        this.send({ type: 'error', id: null, error: new ApiError('invalid_input', 'unknown message type').toJSON() });
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.calls.values()) c.abort();
    this.calls.clear();
    for (const u of this.unsubscribers.values()) u();
    this.unsubscribers.clear();
  }

  private auth(token: unknown, source: unknown): void {
    const actor = typeof token === 'string' ? this.opts.authenticate?.(token) : null;
    if (!actor) {
      this.send({
        type: 'error',
        id: null,
        error: new ApiError('unauthorized', 'invalid token', 'use the admin token printed by `podploy serve` on first start').toJSON(),
      });
      return;
    }
    this.authed = true;
    const src = source === 'cli' || source === 'browser' ? source : this.ctx.source;
    this.ctx = { actor, source: src };
    this.ready();
  }

  private ready(): void {
    this.send({ type: 'ready', session: { user: this.ctx.actor, source: this.ctx.source, version: this.opts.version ?? '' } });
  }

  private async call(id: unknown, op: unknown, input: unknown): Promise<void> {
    if (typeof id !== 'number') {
      this.send({ type: 'error', id: null, error: new ApiError('invalid_input', 'call without numeric id').toJSON() });
      return;
    }
    const controller = new AbortController();
    this.calls.get(id)?.abort();
    this.calls.set(id, controller);
    const ctx: CallContext = { ...this.ctx, signal: controller.signal, ...(this.opts.backlog ? { backlog: this.opts.backlog } : {}) };
    try {
      const result = await this.router.call(String(op), input, ctx, (progress) => {
        if (!this.closed) this.send({ type: 'progress', id, progress });
      });
      if (!this.closed) this.send({ type: 'result', id, result });
    } catch (err) {
      if (!this.closed) this.send({ type: 'error', id, error: toApiError(err).toJSON() });
    } finally {
      if (this.calls.get(id) === controller) this.calls.delete(id);
    }
  }

  private subscribe(topic: unknown): void {
    if (typeof topic !== 'string' || !Object.hasOwn(topics, topic)) {
      this.send({ type: 'error', id: null, error: new ApiError('invalid_input', `unknown topic '${String(topic)}'`).toJSON() });
      return;
    }
    const t = topic as TopicName;
    if (this.unsubscribers.has(t)) return;
    this.unsubscribers.set(
      t,
      this.router.subscribe(t, (payload) => {
        if (!this.closed) this.send({ type: 'event', topic: t, payload });
      }),
    );
  }
}
