// The app's one API client and the state of its connection. Desktop (Electron) talks over the
// preload's IPC bridge; a browser talks to `podploy serve` over a WebSocket with the admin token.
import { ApiClient } from '../../../src-main/api/contract';
import { IpcTransport } from './ipc-transport';
import { apiSocketUrl, WsTransport, type ConnectionState } from './ws-transport';

export const TOKEN_STORAGE_KEY = 'podploy.adminToken';

class Connection {
  mode = $state<'ipc' | 'ws'>('ws');
  client = $state.raw<ApiClient | null>(null);
  state = $state.raw<ConnectionState>({ kind: 'closed' });
  // Increments on every (re)connection: pages reload what they show, events may have been missed.
  generation = $state(0);
  user = $state('');
  loginError = $state<string | null>(null);
  private ws: WsTransport | null = null;

  get needsLogin(): boolean {
    return this.mode === 'ws' && (this.state.kind === 'unauthorized' || this.state.kind === 'closed');
  }

  start(): void {
    if (window.podploy) {
      this.mode = 'ipc';
      this.client = new ApiClient(new IpcTransport(window.podploy));
      this.state = { kind: 'ready', user: '', generation: 1 };
      this.generation = 1;
      this.client.call('session.whoami', {}).then(
        (s) => (this.user = s.user),
        () => undefined,
      );
      return;
    }
    this.mode = 'ws';
    const saved = localStorage.getItem(TOKEN_STORAGE_KEY);
    if (saved) this.login(saved, false);
  }

  login(token: string, typed = true): void {
    this.ws?.close();
    this.loginError = null;
    const ws = new WsTransport({ url: apiSocketUrl(location), token: token.trim() });
    this.ws = ws;
    this.client = new ApiClient(ws);
    ws.onState((s) => {
      if (this.ws !== ws) return;
      this.state = s;
      if (s.kind === 'ready') {
        localStorage.setItem(TOKEN_STORAGE_KEY, token.trim());
        this.user = s.user;
        this.generation = s.generation;
      } else if (s.kind === 'unauthorized') {
        localStorage.removeItem(TOKEN_STORAGE_KEY);
        this.loginError = typed
          ? `unauthorized: the control plane did not accept this token (${s.message}).`
          : `unauthorized: the saved token is no longer accepted (${s.message}). Enter the current admin token.`;
      }
    });
  }

  logout(): void {
    localStorage.removeItem(TOKEN_STORAGE_KEY);
    const ws = this.ws;
    this.ws = null;
    ws?.close();
    this.client = null;
    this.state = { kind: 'closed' };
    this.loginError = null;
  }

  retryNow(): void {
    this.ws?.retryNow();
  }
}

export const connection = new Connection();
