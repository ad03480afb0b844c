// An HTTP liveness probe: GET the path on the container's address; it passes when the status is
// in the range, and fails when the app does not answer with a status within the timeout.
import { request } from 'node:http';
import { settleProbe, type ProbeResult } from './probe-result';

export const PROBE_USER_AGENT = 'podploy-liveness';

export interface HttpProbeSpec {
  ip: string;
  port: number;
  path: string;
  statusMin: number;
  statusMax: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export function httpProbe(p: HttpProbeSpec): Promise<ProbeResult> {
  const where = `GET http://${p.ip.includes(':') ? `[${p.ip}]` : p.ip}:${p.port}${p.path}`;
  // The whole exchange up to the status line, not an idle timeout: an app that trickles bytes
  // or accepts and never answers fails all the same.
  const limits = { timeoutMs: p.timeoutMs, signal: p.signal, timeoutReason: `${where}: no answer within ${p.timeoutMs} ms`, cancelReason: `${where}: cancelled` };
  return settleProbe(limits, (finish) => {
    const req = request(
      { host: p.ip, port: p.port, path: p.path, method: 'GET', agent: false, headers: { 'User-Agent': PROBE_USER_AGENT, Connection: 'close' } },
      (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        if (status >= p.statusMin && status <= p.statusMax) finish({ ok: true, detail: `${where}: ${status}` });
        else finish({ ok: false, reason: `${where}: status ${status}, expected ${p.statusMin}-${p.statusMax}` });
      },
    );
    req.on('error', (err) => finish({ ok: false, reason: `${where}: ${err.message}` }));
    req.end();
    return () => req.destroy();
  });
}
