import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaddyAdmin } from './caddy-admin';
import { freePort } from './caddy-test-process';
import { SlotGate, SlotGateConfirmTimeout } from './slot-gate';
import { drainUpstream, moveTraffic } from './slot-swap';

// A stand-in for Caddy's admin API that reports a shrinking number of requests in flight.
let inFlight: number[] = [];
let server: Server;
let admin: CaddyAdmin;
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url !== '/reverse_proxy/upstreams') return res.writeHead(404).end();
    res.end(JSON.stringify([{ address: '127.0.1.247:1', num_requests: inFlight.length > 1 ? inFlight.shift() : inFlight[0], fails: 0 }]));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  admin = new CaddyAdmin({ host: '127.0.0.1', port });
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('drainUpstream', () => {
  it('waits until Caddy has no request in flight to the upstream', async () => {
    inFlight = [3, 1, 0];
    expect(await drainUpstream(admin, '127.0.1.247:1', 5_000)).toEqual({ drained: true, inFlight: 0 });
    expect(await drainUpstream(admin, '127.0.1.99:1', 5_000)).toEqual({ drained: true, inFlight: 0 });
  });

  it('gives up at the deadline and says how many were left', async () => {
    inFlight = [2];
    expect(await drainUpstream(admin, '127.0.1.247:1', 120)).toEqual({ drained: false, inFlight: 2 });
  });
});

describe('moveTraffic', () => {
  it('leaves the old slot in service when Caddy never confirms the new one', async () => {
    const port = await freePort();
    const from = await SlotGate.start({ ip: '127.0.1.247', port, open: true });
    const to = await SlotGate.start({ ip: '127.0.1.248', port });
    try {
      const err = await moveTraffic({ admin, from: { gate: from, dial: 'x' }, to: { gate: to, dial: 'y' }, confirmDeadlineMs: 100 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SlotGateConfirmTimeout);
      expect(to.current).toBe('closed');
      expect(from.current).toBe('open');
    } finally {
      await Promise.all([from.stop(), to.stop()]);
    }
  });
});
