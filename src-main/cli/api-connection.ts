import WebSocket from 'ws';
import { ApiClient, ApiError, type ServerMessage, type Transport } from '../api/contract';

export const DEFAULT_URL = 'http://127.0.0.1:7080';

export interface Connection {
  client: ApiClient;
  close(): void;
}

// The CLI's transport: the same JSON frames over the same WebSocket the browser UI uses.
export async function connectApi(url: string, token: string, source: 'cli' | 'browser' = 'cli'): Promise<Connection> {
  if (!token) throw new ApiError('unauthorized', 'no API token', 'set PODPLOY_TOKEN or pass --token (printed by `podploy serve` on first start)');
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new ApiError('invalid_input', `PODPLOY_URL '${url}' is not a URL`, 'e.g. http://127.0.0.1:7080');
  }
  const wsUrl = `${base.protocol === 'https:' ? 'wss' : 'ws'}://${base.host}/api/ws`;
  const ws = new WebSocket(wsUrl, { handshakeTimeout: 10_000 });
  const handlers: ((m: ServerMessage) => void)[] = [];
  const transport: Transport = {
    send: (msg) => ws.send(JSON.stringify(msg)),
    onMessage: (h) => handlers.push(h),
  };
  const client = new ApiClient(transport);
  await new Promise<void>((resolve, reject) => {
    ws.once('error', (err: Error & { code?: string }) =>
      reject(new ApiError('unreachable', `cannot reach the control plane at ${url}: ${err.code ?? err.message}`, 'start it with `podploy serve`, or set PODPLOY_URL')),
    );
    ws.once('open', () => ws.send(JSON.stringify({ type: 'auth', token, source })));
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as ServerMessage;
      if (msg.type === 'ready') resolve();
      else if (msg.type === 'error' && msg.id === null && msg.error.code === 'unauthorized') reject(ApiError.from(msg.error));
      for (const h of handlers) h(msg);
    });
  });
  ws.on('close', () => client.failAll(new ApiError('unreachable', 'the connection to the control plane closed')));
  return { client, close: () => ws.close() };
}
