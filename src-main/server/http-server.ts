import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ServerMessage } from '../api/contract';
import { ApiSession } from '../api/session';
import type { ControlPlane } from '../control-plane';

export const DEFAULT_LISTEN = '127.0.0.1:7080';
export const WS_PATH = '/api/ws';
const MAX_FRAME_BYTES = 8 * 1024 * 1024;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.ico': 'image/x-icon',
};

export function locateRendererDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    process.env.PODPLOY_RENDERER_DIR,
    join(here, '..', 'renderer'),
    join(here, '..', '..', 'out', 'renderer'),
    join(here, '..', 'out', 'renderer'),
  ].filter((c): c is string => !!c);
  return candidates.find((c) => existsSync(join(c, 'index.html'))) ?? null;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen);
  if (!m) throw new Error(`--listen must be HOST:PORT, got '${listen}'`);
  const port = Number(m[2]);
  if (port < 0 || port > 65535) throw new Error(`--listen port ${port} is out of range`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

// `podploy serve`: the built UI as static files and the API as JSON frames over a WebSocket.
export async function startHttpServer(cp: ControlPlane, listen: string): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const { host, port } = parseListen(listen);
  const rendererDir = locateRendererDir();
  const server = createServer((req, res) => serveHttp(req, res, rendererDir, cp));
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });

  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== WS_PATH) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => attachSession(ws, cp));
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolveListen());
  });
  const addr = server.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
  return {
    server,
    url,
    close: () =>
      new Promise((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

function attachSession(ws: WebSocket, cp: ControlPlane): void {
  const send = (msg: ServerMessage) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
  };
  const session = new ApiSession(cp.router, { actor: 'anonymous', source: 'browser' }, send, {
    authenticate: (token) => cp.tokens.verify(token),
    version: cp.version,
    backlog: () => ws.bufferedAmount,
  });
  ws.on('message', (data) => {
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      send({ type: 'error', id: null, error: { code: 'invalid_input', message: 'frames must be JSON' } });
      return;
    }
    session.handle(msg);
  });
  ws.on('close', () => session.close());
  ws.on('error', () => session.close());
}

function serveHttp(req: IncomingMessage, res: ServerResponse, rendererDir: string | null, cp: ControlPlane): void {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/api/health') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true, version: cp.version }));
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405).end();
    return;
  }
  if (!rendererDir) {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('The UI is not built. Run `npm run build`, then restart `podploy serve`.\n');
    return;
  }
  const root = resolve(rendererDir);
  let file = normalize(join(root, decodeURIComponent(url.pathname)));
  if (!file.startsWith(root + sep) && file !== root) {
    res.writeHead(403).end();
    return;
  }
  if (!existsSync(file) || statSync(file).isDirectory()) file = join(root, 'index.html');
  const type = MIME[extname(file)] ?? 'application/octet-stream';
  res.writeHead(200, {
    'content-type': type,
    'cache-control': file.endsWith('index.html') ? 'no-cache' : 'public, max-age=31536000, immutable',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(req.method === 'HEAD' ? undefined : readFileSync(file));
}
