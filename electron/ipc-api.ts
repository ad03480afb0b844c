// The one IPC channel between the preload and Electron main, and the shape of the object the
// preload puts on `window`. Pure: no Electron import, so the renderer may import its types.
import type { ClientMessage, ServerMessage } from '../src-main/api/contract';

export const API_CHANNEL = 'podploy:api';

export interface PodployBridge {
  send(msg: ClientMessage): void;
  // Returns a function that stops the delivery.
  onMessage(handler: (msg: ServerMessage) => void): () => void;
}
