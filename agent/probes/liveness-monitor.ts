// Liveness: probes each watched app's live container on its own schedule and reports when it has
// failed failureThreshold times in a row (the caller restarts it through its back-off).
import type { LivenessSettings } from '../../proto/lazarus-defaults';
import type { NodeEventSink } from '../../proto/node-events';
import type { Logger } from '../logger';
import type { PodmanClient } from '../podman/client';
import { execProbe } from './exec-probe';
import { httpProbe } from './http-probe';
import type { ProbeResult } from './probe-result';
import { tcpProbe } from './tcp-probe';

export interface LivenessTarget {
  app: string;
  container: string;
  address: { ip: string; port: number };
}

export type LivenessState = 'passing' | 'failing' | 'none';

export interface LivenessMonitorDeps {
  podman: PodmanClient;
  log?: Logger;
  events?: NodeEventSink;
}

interface Watch {
  target: LivenessTarget;
  settings: LivenessSettings;
  onFailed: (reason: string) => void;
  timer?: NodeJS.Timeout;
  // Ends the probe in flight (unwatch, close, a new watch of the app).
  inFlight?: AbortController;
  failures: number;
  // 'unknown' until the first result; after onFailed the watch stays 'failing' without probing.
  state: 'unknown' | 'passing' | 'failing';
  stopped: boolean;
}

// One probe of an app at a time: the next is scheduled only when the last one finished, at
// intervalMs from the start of the last one.
export class LivenessMonitor {
  private readonly watches = new Map<string, Watch>();
  private closed = false;

  constructor(private readonly deps: LivenessMonitorDeps) {}

  // Replaces any watch of target.app; first probe after settings.initialDelayMs; after
  // failureThreshold consecutive failures calls onFailed(reason) once and stops watching the app.
  watch(target: LivenessTarget, settings: LivenessSettings, onFailed: (reason: string) => void): void {
    this.unwatch(target.app);
    if (this.closed) return;
    const w: Watch = { target, settings, onFailed, failures: 0, state: 'unknown', stopped: false };
    this.watches.set(target.app, w);
    w.timer = setTimeout(() => void this.probe(w), settings.initialDelayMs);
  }

  unwatch(app: string): void {
    const w = this.watches.get(app);
    if (!w) return;
    this.stop(w);
    this.watches.delete(app);
  }

  // none: the app is not watched. An app is passing until its first failure (a probe's initial
  // delay is not a failure); failing from its first failure until a pass, and after onFailed
  // until it is watched again or unwatched.
  state(app: string): LivenessState {
    const w = this.watches.get(app);
    if (!w) return 'none';
    return w.state === 'failing' ? 'failing' : 'passing';
  }

  close(): void {
    this.closed = true;
    for (const app of [...this.watches.keys()]) this.unwatch(app);
  }

  private stop(w: Watch): void {
    w.stopped = true;
    clearTimeout(w.timer);
    w.timer = undefined;
    w.inFlight?.abort();
    w.inFlight = undefined;
  }

  private async probe(w: Watch): Promise<void> {
    w.timer = undefined;
    if (w.stopped) return;
    const started = Date.now();
    const controller = new AbortController();
    w.inFlight = controller;
    let result: ProbeResult;
    try {
      result = await this.run(w, controller.signal);
    } catch (err) {
      result = { ok: false, reason: `the probe failed to run: ${(err as Error).message}` };
    }
    if (w.stopped) return;
    w.inFlight = undefined;
    if (result.ok) this.passed(w);
    else if (this.failed(w, result.reason)) return;
    w.timer = setTimeout(() => void this.probe(w), Math.max(0, w.settings.intervalMs - (Date.now() - started)));
  }

  private run(w: Watch, signal: AbortSignal): Promise<ProbeResult> {
    const { settings: s, target: t } = w;
    switch (s.kind) {
      case 'http':
        return httpProbe({ ...t.address, path: s.path, statusMin: s.statusMin, statusMax: s.statusMax, timeoutMs: s.timeoutMs, signal });
      case 'tcp':
        return tcpProbe({ ...t.address, timeoutMs: s.timeoutMs, signal });
      case 'exec':
        return execProbe(this.deps.podman, { container: t.container, command: s.command, timeoutMs: s.timeoutMs, signal });
      default:
        return Promise.resolve({ ok: false, reason: `unknown liveness probe kind "${String(s.kind)}"` });
    }
  }

  private passed(w: Watch): void {
    const before = w.state;
    w.failures = 0;
    w.state = 'passing';
    if (before === 'passing') return;
    const { app, container } = w.target;
    const message = before === 'failing' ? `liveness probe of ${app} passes again` : `liveness probe of ${app} passes`;
    this.deps.log?.info({ event: 'probe_passing', app, container }, message);
    this.deps.events?.emit({ kind: 'probe.passing', severity: 'info', app, container, message, data: { probe: w.settings.kind } });
  }

  // True when the threshold is reached (the watch is over).
  private failed(w: Watch, reason: string): boolean {
    const before = w.state;
    w.failures += 1;
    w.state = 'failing';
    const { app, container } = w.target;
    const threshold = w.settings.failureThreshold;
    if (before !== 'failing') {
      const message = `liveness probe of ${app} fails (${w.failures}/${threshold}): ${reason}`;
      this.deps.log?.warn({ event: 'probe_failing', app, container, reason }, message);
      this.deps.events?.emit({ kind: 'probe.failing', severity: 'warning', app, container, message, data: { probe: w.settings.kind, reason, failures: w.failures, threshold } });
    } else {
      this.deps.log?.debug({ event: 'probe_failed', app, container, reason, failures: w.failures }, 'liveness probe failed again');
    }
    if (w.failures < threshold) return false;
    this.stop(w);
    this.deps.log?.warn({ event: 'probe_failed_threshold', app, container, reason, failures: w.failures }, `liveness probe of ${app} failed ${w.failures} times in a row`);
    try {
      w.onFailed(reason);
    } catch (err) {
      this.deps.log?.error({ event: 'probe_on_failed_threw', app, err }, 'the liveness failure handler threw');
    }
    return true;
  }
}
