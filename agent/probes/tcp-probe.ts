// A TCP liveness probe: it passes when a connection to the container's address opens within the
// timeout (nothing is sent; the connection is closed at once).
import { connect } from 'node:net';
import type { ProbeResult } from './probe-result';

export interface TcpProbeSpec {
  ip: string;
  port: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export function tcpProbe(p: TcpProbeSpec): Promise<ProbeResult> {
  const where = `TCP ${p.ip.includes(':') ? `[${p.ip}]` : p.ip}:${p.port}`;
  return new Promise((resolve) => {
    let done = false;
    const finish = (result: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      p.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `${where}: no connection within ${p.timeoutMs} ms` }), p.timeoutMs);
    const onAbort = () => finish({ ok: false, reason: `${where}: cancelled` });
    const socket = connect({ host: p.ip, port: p.port });
    socket.once('connect', () => finish({ ok: true, detail: `${where}: connected` }));
    socket.once('error', (err) => finish({ ok: false, reason: `${where}: ${err.message}` }));
    if (p.signal?.aborted) return onAbort();
    p.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
