// The IPC bridge under plain Node: Electron cannot run here, so ipcMain and webContents are a
// small mock of Electron's (same method names and events), and the router is the real one.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerMessage } from '../src-main/api/contract';
import { ApiSession } from '../src-main/api/session';
import { createControlPlane, type ControlPlane } from '../src-main/control-plane';
import { API_CHANNEL } from './ipc-api';
import { createIpcBridge, parseClientMessage, type IpcEventLike, type IpcMainLike, type SenderLike } from './ipc-bridge';

// A mock of Electron's WebContents: records what main sends on each channel.
class MockElectronWebContents extends EventEmitter implements SenderLike {
  private static nextId = 1;
  readonly id = MockElectronWebContents.nextId++;
  readonly received: ServerMessage[] = [];
  private destroyed = false;
  send(channel: string, msg: ServerMessage): void {
    if (this.destroyed) throw new Error('Object has been destroyed');
    expect(channel).toBe(API_CHANNEL);
    this.received.push(structuredClone(msg));
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('destroyed');
  }
  navigate(): void {
    this.emit('did-navigate');
  }
  async next(pred: (m: ServerMessage) => boolean, timeoutMs = 5000): Promise<ServerMessage> {
    const start = Date.now();
    for (;;) {
      const hit = this.received.find(pred);
      if (hit) return hit;
      if (Date.now() - start > timeoutMs) throw new Error(`no matching message; got ${JSON.stringify(this.received)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

// A mock of Electron's ipcMain: an EventEmitter whose listeners get (event, ...args).
class MockElectronIpcMain extends EventEmitter implements IpcMainLike {
  // What ipcRenderer.send(channel, msg) in a page does: structured-clone the payload.
  fromRenderer(sender: MockElectronWebContents, msg: unknown, channel = API_CHANNEL): void {
    const event: IpcEventLike = { sender };
    this.emit(channel, event, structuredClone(msg));
  }
}

describe('IPC bridge with the real router', () => {
  let dir: string;
  let cp: ControlPlane;
  let ipcMain: MockElectronIpcMain;
  let sessions: ApiSession[];
  let bridge: ReturnType<typeof createIpcBridge>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'podploy-ipc-'));
    cp = await createControlPlane({ dataDir: dir, masterKey: randomBytes(32) });
    ipcMain = new MockElectronIpcMain();
    sessions = [];
    bridge = createIpcBridge({
      ipcMain,
      createSession: (send) => {
        const s = new ApiSession(cp.router, { actor: 'tester', source: 'desktop' }, send, { preAuthenticated: true, version: cp.version });
        sessions.push(s);
        return s;
      },
    });
  });

  afterAll(async () => {
    bridge.close();
    await cp.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers calls on the same channel, one pre-authenticated session per webContents', async () => {
    const wc = new MockElectronWebContents();
    ipcMain.fromRenderer(wc, { type: 'call', id: 1, op: 'session.whoami', input: {} });
    ipcMain.fromRenderer(wc, { type: 'call', id: 2, op: 'nodes.list', input: {} });
    expect(await wc.next((m) => m.type === 'result' && m.id === 1)).toEqual({
      type: 'result',
      id: 1,
      result: { user: 'tester', source: 'desktop', version: cp.version },
    });
    expect(await wc.next((m) => m.type === 'result' && m.id === 2)).toEqual({ type: 'result', id: 2, result: [] });
    expect(wc.received[0]).toMatchObject({ type: 'ready', session: { user: 'tester', source: 'desktop' } });
    expect(bridge.sessionCount).toBe(1);

    const other = new MockElectronWebContents();
    ipcMain.fromRenderer(other, { type: 'call', id: 1, op: 'nodes.list', input: {} });
    await other.next((m) => m.type === 'result');
    expect(bridge.sessionCount).toBe(2);
    expect(wc.received.filter((m) => m.type === 'result')).toHaveLength(2); // nothing leaked across pages
    wc.destroy();
    other.destroy();
  });

  it('carries router errors with their code', async () => {
    const wc = new MockElectronWebContents();
    ipcMain.fromRenderer(wc, { type: 'call', id: 7, op: 'nodes.get', input: { name: 'nope' } });
    const err = await wc.next((m) => m.type === 'error' && m.id === 7);
    expect(err).toMatchObject({ type: 'error', id: 7, error: { code: 'not_found' } });
    ipcMain.fromRenderer(wc, { type: 'call', id: 8, op: 'nodes.get', input: { name: '' } });
    expect(await wc.next((m) => m.type === 'error' && m.id === 8)).toMatchObject({ error: { code: 'invalid_input' } });
    wc.destroy();
  });

  it('rejects messages of the wrong shape without creating a session', async () => {
    const wc = new MockElectronWebContents();
    const before = bridge.sessionCount;
    const bad: unknown[] = [
      null,
      'call',
      [1, 2],
      { type: 'call', id: 'x', op: 'nodes.list', input: {} },
      { type: 'call', id: 3, op: 'fs.readFile', input: {} },
      { type: 'subscribe', topic: 'secrets.leaked' },
      { type: 'auth', token: 'pp_x' },
      { type: 'exec' },
    ];
    for (const m of bad) ipcMain.fromRenderer(wc, m);
    expect(wc.received).toHaveLength(bad.length);
    for (const m of wc.received) expect(m).toMatchObject({ type: 'error', error: { code: 'invalid_input' } });
    expect(wc.received[4]).toMatchObject({ id: 3 }); // a call with an id gets its own error
    expect(bridge.sessionCount).toBe(before);
    wc.destroy();
  });

  it('delivers subscribed events and stops when the webContents is destroyed', async () => {
    const wc = new MockElectronWebContents();
    ipcMain.fromRenderer(wc, { type: 'subscribe', topic: 'audit.appended' });
    const entry = { id: 1, at: Date.now(), actor: 'tester', source: 'desktop', action: 'node.add', target: 'web-1', result: 'ok' as const, detail: '' };
    cp.router.publish('audit.appended', entry);
    expect(await wc.next((m) => m.type === 'event')).toEqual({ type: 'event', topic: 'audit.appended', payload: entry });

    const count = bridge.sessionCount;
    const session = sessions[sessions.length - 1];
    wc.destroy();
    expect(bridge.sessionCount).toBe(count - 1);
    // The closed session no longer sends, and the router has no subscriber left for it.
    cp.router.publish('audit.appended', { ...entry, id: 2 });
    expect(wc.received.filter((m) => m.type === 'event')).toHaveLength(1);
    session.handle({ type: 'call', id: 99, op: 'nodes.list', input: {} });
    await new Promise((r) => setTimeout(r, 20));
    expect(wc.received.some((m) => m.type === 'result' && m.id === 99)).toBe(false);
  });

  it('gives a reloaded page a fresh session', async () => {
    const wc = new MockElectronWebContents();
    ipcMain.fromRenderer(wc, { type: 'subscribe', topic: 'nodes.removed' });
    await wc.next((m) => m.type === 'ready');
    const first = sessions[sessions.length - 1];
    wc.navigate();
    ipcMain.fromRenderer(wc, { type: 'call', id: 1, op: 'nodes.list', input: {} });
    await wc.next((m) => m.type === 'result' && m.id === 1);
    expect(sessions[sessions.length - 1]).not.toBe(first);
    expect(wc.received.filter((m) => m.type === 'ready')).toHaveLength(2);
    cp.router.publish('nodes.removed', { name: 'gone' });
    await new Promise((r) => setTimeout(r, 20));
    expect(wc.received.some((m) => m.type === 'event')).toBe(false); // the old page's subscription went with it
    wc.destroy();
  });

  it('ignores other channels, untrusted senders, and stops listening on close', async () => {
    const ipc = new MockElectronIpcMain();
    const wc = new MockElectronWebContents();
    const b = createIpcBridge({
      ipcMain: ipc,
      createSession: (send) => new ApiSession(cp.router, { actor: 't', source: 'desktop' }, send, { preAuthenticated: true }),
      isTrustedSender: (e) => e.sender.id !== wc.id,
    });
    ipc.fromRenderer(wc, { type: 'call', id: 1, op: 'nodes.list', input: {} });
    const trusted = new MockElectronWebContents();
    ipc.fromRenderer(trusted, { type: 'call', id: 1, op: 'nodes.list', input: {} }, 'other:channel');
    await new Promise((r) => setTimeout(r, 20));
    expect(wc.received).toHaveLength(0);
    expect(trusted.received).toHaveLength(0);
    b.close();
    expect(ipc.listenerCount(API_CHANNEL)).toBe(0);
  });
});

describe('parseClientMessage', () => {
  it('accepts the three renderer message types', () => {
    expect(parseClientMessage({ type: 'call', id: 1, op: 'nodes.list', input: {} })).toMatchObject({ ok: true });
    expect(parseClientMessage({ type: 'subscribe', topic: 'nodes.changed' })).toMatchObject({ ok: true });
    expect(parseClientMessage({ type: 'unsubscribe', topic: 'nodes.changed' })).toMatchObject({ ok: true });
  });
  it('refuses ids that are not positive integers and inherited property names', () => {
    expect(parseClientMessage({ type: 'call', id: 0, op: 'nodes.list' })).toMatchObject({ ok: false, id: null });
    expect(parseClientMessage({ type: 'call', id: 1.5, op: 'nodes.list' })).toMatchObject({ ok: false, id: null });
    expect(parseClientMessage({ type: 'call', id: 2, op: 'toString' })).toMatchObject({ ok: false, id: 2 });
    expect(parseClientMessage({ type: 'subscribe', topic: '__proto__' })).toMatchObject({ ok: false });
  });
});
