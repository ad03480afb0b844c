// Sandboxed preload: exposes exactly one object, `window.podploy`, that carries API messages on
// the one 'podploy:api' channel. Nothing else of Electron or Node reaches the page.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { API_CHANNEL, type PodployBridge } from './ipc-api';

const bridge: PodployBridge = {
  send(msg) {
    ipcRenderer.send(API_CHANNEL, msg);
  },
  onMessage(handler) {
    const listener = (_event: IpcRendererEvent, msg: unknown) => handler(msg as Parameters<typeof handler>[0]);
    ipcRenderer.on(API_CHANNEL, listener);
    return () => {
      ipcRenderer.removeListener(API_CHANNEL, listener);
    };
  },
};

contextBridge.exposeInMainWorld('podploy', bridge);
