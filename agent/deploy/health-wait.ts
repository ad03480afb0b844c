// Step 3 of a deploy: probe v2 directly on its slot address (HTTP GET or TCP connect) until it
// passes `healthyThreshold` checks in a row, or the deadline passes, or the container exits.
import { request } from 'node:http';
import { connect } from 'node:net';
import type { SlotAddress } from '../ingress/slots';
import { HEALTH_BOOT_RETRY_MS, HEALTH_PASS_STATUS_MAX, HEALTH_PASS_STATUS_MIN } from './constants';

export interface HealthSettings {
  kind: 'http' | 'tcp';
  path: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  // The first check runs this long after the container started (the app boots undisturbed).
  startPeriodMs: number;
  // The whole wait, start period included.
  deadlineMs: number;
}

export interface ProbeResult {
  ok: boolean;
  // "HTTP 200", "HTTP 503", "connection refused", "timed out after 5000 ms", "connected".
  detail: string;
}

export interface HealthWaitResult {
  healthy: boolean;
  checks: number;
  passes: number;
  elapsedMs: number;
  // What the last check saw; set when there was one.
  last?: ProbeResult;
  // Why the wait ended without a pass: the deadline or the container's exit, in words.
  reason?: string;
}

export interface WaitHealthyOptions {
  target: SlotAddress;
  health: HealthSettings;
  // Resolves to a reason when the container can no longer become healthy (it exited).
  containerGone?: () => Promise<string | undefined>;
}

export function describeCheck(target: SlotAddress, health: HealthSettings): string {
  return health.kind === 'http' ? `GET http://${target.ip}:${target.port}${health.path}` : `TCP connect ${target.ip}:${target.port}`;
}

export async function waitHealthy(opts: WaitHealthyOptions): Promise<HealthWaitResult> {
  const { target, health } = opts;
  const started = Date.now();
  const deadline = started + health.deadlineMs;
  let checks = 0;
  let passes = 0;
  let last: ProbeResult | undefined;
  const result = (healthy: boolean, reason?: string): HealthWaitResult => ({ healthy, checks, passes, elapsedMs: Date.now() - started, last, reason });
  await sleep(Math.min(health.startPeriodMs, health.deadlineMs));
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) {
      return result(false, `${describeCheck(target, health)} did not pass ${health.healthyThreshold} time(s) in a row within ${health.deadlineMs} ms ` + `(${checks} checks, last: ${last?.detail ?? 'none'})`);
    }
    const cutShort = left < health.timeoutMs;
    const seen = await probe(target, health, Math.min(health.timeoutMs, left));
    checks++;
    passes = seen.ok ? passes + 1 : 0;
    // A check the deadline cut short says less than the one before it: keep that one to report.
    if (seen.ok || !cutShort || !last) last = seen;
    if (passes >= health.healthyThreshold) return result(true);
    if (!seen.ok && opts.containerGone) {
      const gone = await opts.containerGone();
      if (gone) return result(false, `${gone} (last check ${describeCheck(target, health)}: ${last.detail})`);
    }
    const pause = booting(seen) ? Math.min(health.intervalMs, HEALTH_BOOT_RETRY_MS) : health.intervalMs;
    await sleep(Math.min(pause, Math.max(0, deadline - Date.now())));
  }
}

// Nothing answered at all: the app is still starting (rootless Podman's port forwarder accepts
// and then resets until the app listens), so the next check comes sooner than the interval.
function booting(seen: ProbeResult): boolean {
  return !seen.ok && BOOTING_DETAILS.has(seen.detail);
}
const BOOTING_DETAILS = new Set(['connection refused', 'connection reset', 'socket hang up']);

export function probe(target: SlotAddress, health: HealthSettings, timeoutMs: number): Promise<ProbeResult> {
  return health.kind === 'http' ? probeHttp(target, health.path, timeoutMs) : probeTcp(target, timeoutMs);
}

export function probeHttp(target: SlotAddress, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = request({ host: target.ip, port: target.port, path, method: 'GET', agent: false, headers: { 'User-Agent': 'podploy-deploy-health' } }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      res.on('end', () => done({ ok: status >= HEALTH_PASS_STATUS_MIN && status <= HEALTH_PASS_STATUS_MAX, detail: `HTTP ${status}` }));
      res.on('error', (err) => done({ ok: false, detail: `HTTP ${status}, then ${err.message}` }));
    });
    // A total limit (connect, answer and body), not an idle one.
    const timer = setTimeout(() => done({ ok: false, detail: `timed out after ${timeoutMs} ms` }), timeoutMs);
    req.on('error', (err) => done({ ok: false, detail: errorDetail(err) }));
    req.end();
  });
}

export function probeTcp(target: SlotAddress, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.ip, port: target.port });
    const done = (r: ProbeResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, detail: `timed out after ${timeoutMs} ms` }), timeoutMs);
    socket.once('connect', () => done({ ok: true, detail: 'connected' }));
    socket.once('error', (err) => done({ ok: false, detail: errorDetail(err) }));
  });
}

function errorDetail(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET') return 'connection reset';
  return code ?? err.message;
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}
