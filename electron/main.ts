// Electron main: a window, the OS keychain for the master key, and the IPC bridge onto the same
// API router `podploy serve` exposes. Everything else lives in src-main (Electron-free).
import { app, BrowserWindow, dialog, ipcMain, safeStorage, session, shell } from 'electron';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ApiSession } from '../src-main/api/session';
import { createControlPlane, type ControlPlane } from '../src-main/control-plane';
import { createIpcBridge, type IpcBridge, type IpcMainLike } from './ipc-bridge';
import { loadOrCreateDesktopMasterKey, MasterKeyError } from './master-key-store';

const here = dirname(fileURLToPath(import.meta.url));
const PRELOAD = join(here, '..', 'preload', 'index.cjs');
const RENDERER_HTML = join(here, '..', 'renderer', 'index.html');
// Set by `electron-vite dev` to the renderer's dev server.
const DEV_URL = process.env.ELECTRON_RENDERER_URL;
const APP_URL = DEV_URL ?? pathToFileURL(RENDERER_HTML).href;

let controlPlane: ControlPlane | null = null;
let bridge: IpcBridge | null = null;
let mainWindow: BrowserWindow | null = null;

function desktopActor(): string {
  try {
    return userInfo().username || 'desktop';
  } catch {
    return 'desktop';
  }
}

function isAppUrl(url: string): boolean {
  if (DEV_URL) return url.startsWith(DEV_URL);
  return url.split('#')[0] === APP_URL;
}

function agentBundlePath(): string | undefined {
  // electron-builder copies out/agent/podploy-agent.cjs to resources/agent/ (electron-builder.yml).
  return app.isPackaged ? join(process.resourcesPath, 'agent', 'podploy-agent.cjs') : undefined;
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 820,
    minWidth: 900,
    minHeight: 560,
    title: 'PodPloy',
    backgroundColor: '#15171c',
    show: false,
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  // The app never opens other pages inside itself: links go to the system browser.
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https?:\/\//.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.webContents.on('will-navigate', (event, url) => {
    if (!isAppUrl(url)) event.preventDefault();
  });
  if (DEV_URL) void win.loadURL(DEV_URL);
  else void win.loadFile(RENDERER_HTML);
  return win;
}

async function start(): Promise<void> {
  // The renderer needs no camera, notifications or other permissions.
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));

  let masterKey: Uint8Array;
  try {
    masterKey = loadOrCreateDesktopMasterKey(app.getPath('userData'), safeStorage);
  } catch (err) {
    const hint = err instanceof MasterKeyError ? `\n\n${err.hint}` : '';
    dialog.showErrorBox('PodPloy cannot start', `${(err as Error).message}${hint}`);
    app.exit(1);
    return;
  }

  try {
    controlPlane = await createControlPlane({ dataDir: app.getPath('userData'), masterKey, agentBundlePath: agentBundlePath() });
  } catch (err) {
    dialog.showErrorBox('PodPloy cannot start', `The control plane failed to start: ${(err as Error).message}`);
    app.exit(1);
    return;
  }

  const cp = controlPlane;
  const actor = desktopActor();
  bridge = createIpcBridge({
    ipcMain: ipcMain as unknown as IpcMainLike,
    createSession: (send) => new ApiSession(cp.router, { actor, source: 'desktop' }, send, { preAuthenticated: true, version: cp.version }),
    isTrustedSender: (event) => {
      const frame = (event as { senderFrame?: { url: string; parent: unknown } | null }).senderFrame;
      return !!frame && frame.parent === null && isAppUrl(frame.url);
    },
  });

  mainWindow = createWindow();
  mainWindow.on('closed', () => (mainWindow = null));
}

if (!app.requestSingleInstanceLock()) {
  // One control plane per data folder: a second copy would fight over the database.
  app.quit();
} else {
  app.on('second-instance', () => {
    if (!mainWindow) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });
  app.whenReady().then(start, (err) => {
    dialog.showErrorBox('PodPloy cannot start', String(err));
    app.exit(1);
  });
  app.on('activate', () => {
    if (controlPlane && BrowserWindow.getAllWindows().length === 0) mainWindow = createWindow();
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  let closing = false;
  app.on('before-quit', (event) => {
    if (closing || !controlPlane) return;
    event.preventDefault();
    closing = true;
    bridge?.close();
    const cp = controlPlane;
    controlPlane = null;
    cp.close()
      .catch(() => undefined)
      .finally(() => app.quit());
  });
}
