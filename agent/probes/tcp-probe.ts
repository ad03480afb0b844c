// A TCP liveness probe: it passes when a connection to the container's address opens within the
// timeout (nothing is sent; the connection is closed at once).
import { connect } from 'node:net';
import { settleProbe, type ProbeResult } from './probe-result';

export interface TcpProbeSpec {
  ip: string;
  port: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export function tcpProbe(p: TcpProbeSpec): Promise<ProbeResult> {
  const where = `TCP ${p.ip.includes(':') ? `[${p.ip}]` : p.ip}:${p.port}`;
  const limits = { timeoutMs: p.timeoutMs, signal: p.signal, timeoutReason: `${where}: no connection within ${p.timeoutMs} ms`, cancelReason: `${where}: cancelled` };
  return settleProbe(limits, (finish) => {
    const socket = connect({ host: p.ip, port: p.port });
    socket.once('connect', () => finish({ ok: true, detail: `${where}: connected` }));
    socket.once('error', (err) => finish({ ok: false, reason: `${where}: ${err.message}` }));
    return () => socket.destroy();
  });
}
