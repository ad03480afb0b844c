// Carries API messages between renderers and the control plane's router. It does not import
// Electron: main.ts passes `ipcMain` and a session factory, and the tests pass fakes.
import { ApiError, procedures, topics, type ClientMessage, type ProcedureName, type ServerMessage, type TopicName } from '../src-main/api/contract';
import { API_CHANNEL } from './ipc-api';

// The parts of Electron's WebContents the bridge uses.
export interface SenderLike {
  readonly id: number;
  send(channel: string, msg: ServerMessage): void;
  isDestroyed(): boolean;
  once(event: 'destroyed', listener: () => void): unknown;
  on(event: 'did-navigate', listener: () => void): unknown;
}

export interface IpcEventLike {
  sender: SenderLike;
}

// The parts of Electron's ipcMain the bridge uses.
export interface IpcMainLike {
  on(channel: string, listener: (event: IpcEventLike, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: IpcEventLike, ...args: unknown[]) => void): unknown;
}

export interface SessionLike {
  handle(msg: ClientMessage): void;
  close(): void;
}

export interface IpcBridgeOptions {
  ipcMain: IpcMainLike;
  // One session per webContents, created on its first message. `send` delivers to that page.
  createSession(send: (msg: ServerMessage) => void, senderId: number): SessionLike;
  // Optional gate, e.g. "the message comes from our own page"; refused messages are dropped.
  isTrustedSender?(event: IpcEventLike): boolean;
}

export interface IpcBridge {
  readonly sessionCount: number;
  close(): void;
}

// Checks the envelope of a message (the router validates each operation's input).
export function parseClientMessage(raw: unknown): { ok: true; msg: ClientMessage } | { ok: false; id: number | null; reason: string } {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, id: null, reason: 'a message must be an object' };
  const m = raw as Record<string, unknown>;
  switch (m.type) {
    case 'call': {
      const id = typeof m.id === 'number' && Number.isSafeInteger(m.id) && m.id > 0 ? m.id : null;
      if (id === null) return { ok: false, id: null, reason: 'a call needs a positive integer id' };
      if (typeof m.op !== 'string' || !Object.hasOwn(procedures, m.op)) {
        return { ok: false, id, reason: `unknown operation '${String(m.op)}'` };
      }
      return { ok: true, msg: { type: 'call', id, op: m.op as ProcedureName, input: m.input } };
    }
    case 'subscribe':
    case 'unsubscribe':
      if (typeof m.topic !== 'string' || !Object.hasOwn(topics, m.topic)) {
        return { ok: false, id: null, reason: `unknown topic '${String(m.topic)}'` };
      }
      return { ok: true, msg: { type: m.type, topic: m.topic as TopicName } };
    case 'auth':
      return { ok: false, id: null, reason: 'the desktop session is authenticated already; auth messages are not accepted over IPC' };
    default:
      return { ok: false, id: null, reason: `unknown message type '${String(m.type)}'` };
  }
}

export function createIpcBridge(opts: IpcBridgeOptions): IpcBridge {
  const sessions = new Map<number, SessionLike>();

  const dropSession = (senderId: number) => {
    const s = sessions.get(senderId);
    if (!s) return;
    sessions.delete(senderId);
    s.close();
  };

  const sessionFor = (sender: SenderLike): SessionLike => {
    let s = sessions.get(sender.id);
    if (s) return s;
    const send = (msg: ServerMessage) => {
      if (!sender.isDestroyed()) sender.send(API_CHANNEL, msg);
    };
    s = opts.createSession(send, sender.id);
    sessions.set(sender.id, s);
    sender.once('destroyed', () => dropSession(sender.id));
    // A reload or navigation starts a new page whose call ids restart at 1: it gets a fresh session.
    sender.on('did-navigate', () => dropSession(sender.id));
    return s;
  };

  const listener = (event: IpcEventLike, raw: unknown) => {
    const sender = event?.sender;
    if (!sender || sender.isDestroyed()) return;
    if (opts.isTrustedSender && !opts.isTrustedSender(event)) return;
    const parsed = parseClientMessage(raw);
    if (!parsed.ok) {
      sender.send(API_CHANNEL, { type: 'error', id: parsed.id, error: new ApiError('invalid_input', parsed.reason).toJSON() });
      return;
    }
    sessionFor(sender).handle(parsed.msg);
  };

  opts.ipcMain.on(API_CHANNEL, listener as (event: IpcEventLike, ...args: unknown[]) => void);

  return {
    get sessionCount() {
      return sessions.size;
    },
    close() {
      opts.ipcMain.removeListener(API_CHANNEL, listener as (event: IpcEventLike, ...args: unknown[]) => void);
      for (const id of [...sessions.keys()]) dropSession(id);
    },
  };
}
