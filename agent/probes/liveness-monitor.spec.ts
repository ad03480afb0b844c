// The HTTP and TCP probes and the monitor's schedule against real sockets on loopback: an HTTP
// server whose answer the test sets (a status, or no answer at all).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LivenessSettings } from '../../proto/lazarus-defaults';
import type { NodeEventInput } from '../../proto/node-events';
import { freePort } from '../ingress/caddy-test-process';
import { PodmanClient } from '../podman/client';
import { httpProbe } from './http-probe';
import { LivenessMonitor } from './liveness-monitor';
import { tcpProbe } from './tcp-probe';

const IP = '127.0.1.247';
let server: Server;
let port: number;
// What the server does with the next request: a status, or 'hang' (never answers).
let answer: number | 'hang' = 200;
let requests = 0;
let inFlight = 0;
let maxInFlight = 0;
const hanging = new Set<ServerResponse>();

function handle(req: IncomingMessage, res: ServerResponse): void {
  requests++;
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  res.on('close', () => inFlight--);
  if (answer === 'hang') {
    hanging.add(res);
    return;
  }
  res.writeHead(req.url === '/health' ? answer : 404).end('x');
}

beforeAll(async () => {
  port = await freePort();
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(port, IP, r));
});
afterAll(() => {
  for (const res of hanging) res.destroy();
  return new Promise((r) => server.close(r));
});

const monitors: LivenessMonitor[] = [];
afterEach(() => {
  while (monitors.length) monitors.pop()!.close();
  for (const res of hanging) res.destroy();
  hanging.clear();
  answer = 200;
});

const podman = new PodmanClient('/nonexistent/podman.sock');
const target = () => ({ app: 'web', container: 'web-a', address: { ip: IP, port } });
const settings = (extra: Partial<LivenessSettings> = {}): LivenessSettings => ({
  kind: 'http',
  path: '/health',
  statusMin: 200,
  statusMax: 399,
  command: [],
  intervalMs: 100,
  timeoutMs: 80,
  failureThreshold: 3,
  initialDelayMs: 0,
  ...extra,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function monitorWithEvents(): { monitor: LivenessMonitor; events: NodeEventInput[] } {
  const events: NodeEventInput[] = [];
  const monitor = new LivenessMonitor({ podman, events: { emit: (e) => events.push(e) } });
  monitors.push(monitor);
  return { monitor, events };
}

async function until(check: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('httpProbe', () => {
  it('passes on a status in the range and fails outside it, naming what it got', async () => {
    const p = { ip: IP, port, path: '/health', statusMin: 200, statusMax: 299, timeoutMs: 500 };
    expect(await httpProbe(p)).toEqual({ ok: true, detail: `GET http://${IP}:${port}/health: 200` });
    answer = 204;
    expect((await httpProbe(p)).ok).toBe(true);
    answer = 302;
    expect(await httpProbe(p)).toEqual({ ok: false, reason: `GET http://${IP}:${port}/health: status 302, expected 200-299` });
    answer = 503;
    expect((await httpProbe({ ...p, statusMin: 503, statusMax: 503 })).ok).toBe(true);
    expect(await httpProbe({ ...p, path: '/other' })).toMatchObject({ ok: false, reason: expect.stringContaining('status 404') });
  });

  it('fails by its timeout when the app accepts and never answers, and ends the request', async () => {
    answer = 'hang';
    const t0 = Date.now();
    const r = await httpProbe({ ip: IP, port, path: '/health', statusMin: 200, statusMax: 399, timeoutMs: 150 });
    const took = Date.now() - t0;
    expect(r).toEqual({ ok: false, reason: `GET http://${IP}:${port}/health: no answer within 150 ms` });
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(600);
    await until(() => inFlight === 0);
  });

  it('fails at once on a closed port, and when cancelled', async () => {
    const closed = await freePort();
    const r = await httpProbe({ ip: IP, port: closed, path: '/health', statusMin: 200, statusMax: 399, timeoutMs: 1_000 });
    expect(r).toMatchObject({ ok: false, reason: expect.stringContaining('ECONNREFUSED') });
    answer = 'hang';
    const controller = new AbortController();
    const pending = httpProbe({ ip: IP, port, path: '/health', statusMin: 200, statusMax: 399, timeoutMs: 5_000, signal: controller.signal });
    await sleep(50);
    controller.abort();
    expect(await pending).toMatchObject({ ok: false, reason: expect.stringContaining('cancelled') });
  });
});

describe('tcpProbe', () => {
  it('passes on a listening port and fails on a closed one', async () => {
    expect(await tcpProbe({ ip: IP, port, timeoutMs: 500 })).toEqual({ ok: true, detail: `TCP ${IP}:${port}: connected` });
    const closed = await freePort();
    expect(await tcpProbe({ ip: IP, port: closed, timeoutMs: 500 })).toMatchObject({ ok: false, reason: expect.stringMatching(/^TCP .*ECONNREFUSED/) });
  });
});

describe('LivenessMonitor', () => {
  it('waits the initial delay, reports passing once, then failing once, and calls onFailed once at the threshold', async () => {
    const { monitor, events } = monitorWithEvents();
    const failed: string[] = [];
    requests = 0;
    monitor.watch(target(), settings({ initialDelayMs: 300, failureThreshold: 3 }), (r) => failed.push(r));
    expect(monitor.state('web')).toBe('passing');
    await sleep(200);
    expect(requests).toBe(0);
    await until(() => events.length === 1);
    expect(events[0]).toMatchObject({ kind: 'probe.passing', app: 'web', container: 'web-a', severity: 'info' });
    await sleep(250);
    expect(events).toHaveLength(1); // passing again is no news

    answer = 500;
    await until(() => failed.length === 1);
    expect(failed[0]).toContain('status 500');
    const failing = events.filter((e) => e.kind === 'probe.failing');
    expect(failing).toHaveLength(1);
    expect(failing[0]).toMatchObject({ app: 'web', severity: 'warning', data: { failures: 1, threshold: 3, reason: expect.stringContaining('status 500') } });
    expect(monitor.state('web')).toBe('failing');

    // The watch is over: no more probes, no second onFailed.
    const seen = requests;
    await sleep(350);
    expect(requests).toBe(seen);
    expect(failed).toHaveLength(1);
  });

  it('a pass resets the count: failures must be consecutive, and passing again is reported', async () => {
    const { monitor, events } = monitorWithEvents();
    const failed: string[] = [];
    answer = 500;
    monitor.watch(target(), settings({ failureThreshold: 4 }), (r) => failed.push(r));
    await until(() => events.length === 1);
    expect(events[0].kind).toBe('probe.failing');
    expect(monitor.state('web')).toBe('failing');
    answer = 200;
    await until(() => events.length === 2);
    expect(events[1]).toMatchObject({ kind: 'probe.passing', message: 'liveness probe of web passes again' });
    expect(monitor.state('web')).toBe('passing');
    answer = 500;
    await until(() => events.length === 3);
    expect(events[2]).toMatchObject({ kind: 'probe.failing', data: { failures: 1 } });
    expect(failed).toHaveLength(0);
  });

  it('never has two probes of an app in flight, even when the timeout exceeds the interval', async () => {
    const { monitor } = monitorWithEvents();
    const failed: string[] = [];
    answer = 'hang';
    maxInFlight = 0;
    requests = 0;
    monitor.watch(target(), settings({ intervalMs: 100, timeoutMs: 250, failureThreshold: 3 }), (r) => failed.push(r));
    await until(() => failed.length === 1);
    expect(requests).toBe(3);
    expect(maxInFlight).toBe(1);
    expect(failed[0]).toContain('no answer within 250 ms');
  });

  it('watch replaces the earlier watch of the app; unwatch cancels the probe in flight and ends probing', async () => {
    const { monitor, events } = monitorWithEvents();
    const first: string[] = [];
    monitor.watch(target(), settings({ intervalMs: 100 }), (r) => first.push(r));
    monitor.watch({ ...target(), container: 'web-b' }, settings({ intervalMs: 100 }), () => undefined);
    await until(() => events.length === 1);
    expect(events[0].container).toBe('web-b');

    answer = 'hang';
    monitor.watch(target(), settings({ intervalMs: 5_000, timeoutMs: 5_000 }), (r) => first.push(r));
    await until(() => inFlight === 1);
    monitor.unwatch('web');
    expect(monitor.state('web')).toBe('none');
    await until(() => inFlight === 0, 300); // the probe in flight was cancelled, long before its timeout
    const seen = requests;
    await sleep(250);
    expect(requests).toBe(seen);
    expect(first).toHaveLength(0);
  });

  it('leaves no timer after unwatch and close', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { monitor } = monitorWithEvents();
      monitor.watch(target(), settings({ initialDelayMs: 10_000 }), () => undefined);
      monitor.watch({ ...target(), app: 'api' }, settings({ initialDelayMs: 10_000 }), () => undefined);
      monitor.watch({ ...target(), app: 'api' }, settings({ initialDelayMs: 10_000 }), () => undefined);
      expect(vi.getTimerCount()).toBe(2);
      monitor.unwatch('web');
      expect(vi.getTimerCount()).toBe(1);
      monitor.close();
      expect(vi.getTimerCount()).toBe(0);
      monitor.watch(target(), settings(), () => undefined); // closed: ignored
      expect(monitor.state('web')).toBe('none');
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('an exec probe against an unreachable Podman fails with its reason', async () => {
    const { monitor, events } = monitorWithEvents();
    const failed: string[] = [];
    monitor.watch(target(), settings({ kind: 'exec', command: ['true'], failureThreshold: 1 }), (r) => failed.push(r));
    await until(() => failed.length === 1);
    expect(failed[0]).toMatch(/^exec true: .*nonexistent\/podman\.sock/);
    expect(events[0]).toMatchObject({ kind: 'probe.failing', data: { probe: 'exec', failures: 1, threshold: 1 } });
  });
});
