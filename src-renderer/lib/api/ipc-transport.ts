// Transport for the desktop app: the preload's `window.podploy` bridge to Electron main. The
// main-process session is authenticated already, so the connection is ready from the start.
import type { ClientMessage, ServerMessage, Transport } from '../../../src-main/api/contract';
import type { PodployBridge } from '../../../electron/ipc-api';

export class IpcTransport implements Transport {
  constructor(private bridge: PodployBridge) {}

  send(msg: ClientMessage): void {
    this.bridge.send(msg);
  }

  onMessage(handler: (msg: ServerMessage) => void): () => void {
    return this.bridge.onMessage(handler);
  }
}
