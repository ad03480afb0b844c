/// <reference types="svelte" />
/// <reference types="vite/client" />
import type { PodployBridge } from '../electron/ipc-api';

declare global {
  interface Window {
    // Present only inside the desktop app (exposed by electron/preload.ts).
    podploy?: PodployBridge;
  }
}

export {};
