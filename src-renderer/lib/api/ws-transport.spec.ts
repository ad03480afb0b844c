import { describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../../src-main/api/contract';
import { ApiClient, ApiError } from '../../../src-main/api/contract';
import { apiSocketUrl, backoffMs, RECONNECT_MAX_MS, WsTransport, type ConnectionState, type SocketLike } from './ws-transport';

// A scripted stand-in for the browser's WebSocket.
class FakeSocket implements SocketLike {
  readyState = 0;
  sent: unknown[] = [];
  onopen: SocketLike['onopen'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;
  onmessage: SocketLike['onmessage'] = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000, reason = '') {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(msg: ServerMessage) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  drop() {
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: '' });
  }
}

function setup() {
  const sockets: FakeSocket[] = [];
  const timers: { fn: () => void; ms: number; cleared: boolean }[] = [];
  const states: ConnectionState[] = [];
  const t = new WsTransport({
    url: 'ws://cp.test/api/ws',
    token: 'pp_secret',
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    random: () => 0.5,
    now: () => 0,
    setTimer: (fn, ms) => {
      const timer = { fn, ms, cleared: false };
      timers.push(timer);
      return timer;
    },
    clearTimer: (x) => ((x as { cleared: boolean }).cleared = true),
  });
  t.onState((s) => states.push(s));
  const fireReconnect = () => {
    const timer = timers.filter((x) => !x.cleared).pop()!;
    timer.cleared = true;
    timer.fn();
  };
  return { t, sockets, states, fireReconnect, client: new ApiClient(t) };
}

const ready: ServerMessage = { type: 'ready', session: { user: 'admin', source: 'browser', version: '0.1.0' } };

describe('WsTransport', () => {
  it('authenticates first, queues calls until ready, then delivers results', async () => {
    const { sockets, client, states } = setup();
    const p = client.call('nodes.list', {});
    const s = sockets[0];
    s.open();
    expect(s.sent).toEqual([{ type: 'auth', token: 'pp_secret', source: 'browser' }]);
    s.deliver(ready);
    expect(s.sent[1]).toEqual({ type: 'call', id: 1, op: 'nodes.list', input: {} });
    s.deliver({ type: 'result', id: 1, result: [] });
    await expect(p).resolves.toEqual([]);
    expect(states.at(-1)).toMatchObject({ kind: 'ready', user: 'admin', generation: 1 });
  });

  it('reports a wrong token as unauthorized and stops retrying', async () => {
    const { sockets, client, states } = setup();
    const p = client.call('nodes.list', {});
    sockets[0].open();
    sockets[0].deliver({ type: 'error', id: null, error: { code: 'unauthorized', message: 'invalid token' } });
    await expect(p).rejects.toMatchObject({ code: 'unauthorized' });
    expect(states.at(-1)).toEqual({ kind: 'unauthorized', message: 'invalid token' });
    expect(sockets).toHaveLength(1);
  });

  it('fails calls in flight when the connection drops, reconnects and re-subscribes', async () => {
    const { sockets, client, states, fireReconnect } = setup();
    const events: unknown[] = [];
    client.subscribe('nodes.changed', (n) => events.push(n));
    sockets[0].open();
    sockets[0].deliver(ready);
    expect(sockets[0].sent).toContainEqual({ type: 'subscribe', topic: 'nodes.changed' });
    const p = client.call('nodes.list', {});
    sockets[0].drop();
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'unreachable' });
    expect(states.at(-1)).toMatchObject({ kind: 'offline' });
    // While offline a call fails at once instead of hanging.
    await expect(client.call('nodes.list', {})).rejects.toMatchObject({ code: 'unreachable' });

    fireReconnect();
    const s2 = sockets[1];
    s2.open();
    s2.deliver(ready);
    expect(s2.sent).toEqual([
      { type: 'auth', token: 'pp_secret', source: 'browser' },
      { type: 'subscribe', topic: 'nodes.changed' },
    ]);
    expect(states.at(-1)).toMatchObject({ kind: 'ready', generation: 2 });
    s2.deliver({ type: 'event', topic: 'nodes.changed', payload: { name: 'web-1' } });
    expect(events).toEqual([{ name: 'web-1' }]);
  });

  it('backs off exponentially with jitter, up to a ceiling', () => {
    expect(backoffMs(1, () => 0)).toBe(250);
    expect(backoffMs(1, () => 1)).toBe(500);
    expect(backoffMs(4, () => 1)).toBe(4000);
    expect(backoffMs(30, () => 1)).toBe(RECONNECT_MAX_MS);
  });

  it('derives the socket URL from the page', () => {
    expect(apiSocketUrl({ protocol: 'http:', host: '127.0.0.1:7080' })).toBe('ws://127.0.0.1:7080/api/ws');
    expect(apiSocketUrl({ protocol: 'https:', host: 'cp.example' })).toBe('wss://cp.example/api/ws');
  });
});
