import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../ingress/caddy-test-process';
import { probeTcp, waitHealthy, type HealthSettings } from './health-wait';

const IP = '127.0.1.246';
let server: Server;
let port: number;
// The status /health answers with, one per request (the last one repeats).
let answers: number[] = [];
let seen = 0;

const health = (extra: Partial<HealthSettings> = {}): HealthSettings => ({
  kind: 'http',
  path: '/health',
  intervalMs: 20,
  timeoutMs: 200,
  healthyThreshold: 1,
  unhealthyThreshold: 3,
  startPeriodMs: 0,
  deadlineMs: 2_000,
  ...extra,
});

beforeAll(async () => {
  port = await freePort();
  server = createServer((req, res) => {
    seen++;
    if (req.url !== '/health') return res.writeHead(404).end();
    res.writeHead(answers.length > 1 ? (answers.shift() as number) : answers[0]).end();
  });
  await new Promise<void>((r) => server.listen(port, IP, r));
});
afterAll(() => new Promise((r) => server.close(r)));

describe('waitHealthy', () => {
  it('waits for healthyThreshold passes in a row', async () => {
    answers = [503, 200, 503, 200, 200, 200];
    seen = 0;
    const r = await waitHealthy({ target: { ip: IP, port }, health: health({ healthyThreshold: 2 }) });
    expect(r).toMatchObject({ healthy: true, checks: 5, passes: 2, last: { ok: true, detail: 'HTTP 200' } });
    expect(seen).toBe(5);
  });

  it('gives up at the deadline and says what it saw', async () => {
    answers = [503];
    const r = await waitHealthy({ target: { ip: IP, port }, health: health({ deadlineMs: 300 }) });
    expect(r.healthy).toBe(false);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(300);
    expect(r.elapsedMs).toBeLessThan(1_000);
    expect(r.reason).toMatch(new RegExp(`GET http://${IP.replace(/\./g, '\\.')}:${port}/health did not pass 1 time\\(s\\) in a row within 300 ms \\(\\d+ checks, last: HTTP 503\\)`));
  });

  it('a 404 health path fails; 3xx passes', async () => {
    answers = [200];
    expect((await waitHealthy({ target: { ip: IP, port }, health: health({ path: '/nope', deadlineMs: 100 }) })).last?.detail).toBe('HTTP 404');
    answers = [302];
    expect((await waitHealthy({ target: { ip: IP, port }, health: health() })).healthy).toBe(true);
  });

  it('stops at once when the container is gone', async () => {
    answers = [503];
    const r = await waitHealthy({ target: { ip: IP, port }, health: health(), containerGone: async () => 'web exited with code 1' });
    expect(r).toMatchObject({ healthy: false, checks: 1 });
    expect(r.reason).toBe(`web exited with code 1 (last check GET http://${IP}:${port}/health: HTTP 503)`);
  });

  it('waits out the start period before the first check', async () => {
    answers = [200];
    const r = await waitHealthy({ target: { ip: IP, port }, health: health({ startPeriodMs: 150 }) });
    expect(r.healthy).toBe(true);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(150);
  });

  it('TCP: connected or refused', async () => {
    expect(await probeTcp({ ip: IP, port }, 500)).toEqual({ ok: true, detail: 'connected' });
    expect(await probeTcp({ ip: IP, port: await freePort() }, 500)).toEqual({ ok: false, detail: 'connection refused' });
    const r = await waitHealthy({ target: { ip: '127.0.1.245', port }, health: health({ kind: 'tcp', deadlineMs: 100 }) });
    expect(r.reason).toContain(`TCP connect 127.0.1.245:${port} did not pass`);
  });
});
