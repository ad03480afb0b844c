// Lazarus: keeps the LIVE container of every app on this node running, on its own, while the
// control plane is away. Nothing else: containers a deploy step owns (v2 before the switch, v1
// after it) are the Deployer's.
//
//   death      conmon's exit file (ExitWatch, ~2 ms), else the events stream's `died`
//              -> container.died, then a restart (POST start of the same container) after the
//              app's RestartPolicy delay: the first at once, then back-off; crash loops marked
//   missing    the live container was removed (behind our back, a Podman storage reset)
//              -> recreated from the signed desired state exactly as the deploy made it, started
//   on purpose SetAppRunning{running:false} (the operator) or a `podman stop` on the node that
//              Podman reports as such: not restarted, app.stopped, kept across agent restarts
//   liveness   after every start the app's probe (LivenessWatcher) runs again; its failure kills
//              the container, and the death is restarted through the same policy
//   reconcile  at start, on every (re)connect of the events stream (a Podman service restart)
//              and after a failed look at Podman (retried): what runs is compared with what
//              should run
//
// A direct `podman stop` on the node: Podman 4.3 records it (StoppedByUser) in its database but
// neither inspect nor the API shows it, and its `stop` event is written only when the stop wins
// a race with conmon's cleanup process (1 stop in 4 here). Lazarus looks, at the death, for a
// podman CLI process stopping the container (/proc, stop-intent.ts), then at inspect's
// StoppedByUser (newer Podman) and the "stopping" state; a `stop` event that arrives after the
// restart stops the container again. A stop through some other client of Podman's socket is
// seen only through that event. The reliable way to stop an app is SetAppRunning.
import type { LivenessSettings, RestartPolicySettings } from '../../proto/lazarus-defaults';
import { RESTART_DEFAULTS } from '../../proto/lazarus-defaults';
import type { NodeEventInput, NodeEventSink } from '../../proto/node-events';
import { CommandEnvelope, type SignedCommand } from '../../proto/gen/podploy/agent/v1/agent';
import type { AppStateStore, LiveRelease } from '../deploy/app-state';
import { createReleaseContainer, lazarusSettings, type GateRegistry, type SecretsHook } from '../deploy/deploy-app';
import { deployRequestFrom } from '../deploy-rpc';
import type { Logger } from '../logger';
import { isPodmanNotFound, PodmanError, withContext, type PodmanClient } from '../podman/client';
import { findContainer, startContainer, stopContainer } from '../podman/containers';
import { PodmanEventStream, type PodmanEvent } from '../podman/events';
import { ExitWatch, findExitsDir, type ExitNotice } from '../podman/exit-watch';
import { PodmanCliScanner, type CliIntent } from '../podman/stop-intent';
import type { DesiredStateStore } from './desired-state';
import { sandboxKeyOf, waitNetworkReleased } from './network-release';
import { RestartHistoryStore } from './restart-history';
import { RestartPolicy, type PolicyClock, type RestartDecision } from './restart-policy';

// A look at Podman that failed (the service is restarting) is tried again this often.
export const RECONCILE_RETRY_MS = 1_000;
const MS_PER_S = 1_000;
const NANOS_PER_MS = 1_000_000;
const KILL_TIMEOUT_MS = 10_000;
const BUSY_WAIT_STEP_MS = 20;
const START_TIMEOUT_MS = 30_000;
const CLI_RESTART_RECHECK_MS = 2_000;
// A `stop` event this soon after a `restart` event of the same container is part of that restart.
const CLI_RESTART_STOP_WINDOW_MS = 10_000;
const BUSY_WAIT_MAX_MS = 30_000;

export type AppRunStatus = 'running' | 'restarting' | 'crash-looping' | 'stopped' | 'unknown';

// What Lazarus needs of L2's LivenessMonitor (agent/probes/liveness-monitor.ts).
export interface LivenessWatcher {
  watch(target: { app: string; container: string; address: { ip: string; port: number } }, settings: LivenessSettings, onFailed: (reason: string) => void): void;
  unwatch(app: string): void;
}

export interface LazarusDeps {
  podman: PodmanClient;
  deployer: { readonly state: AppStateStore; inProgress(app: string): { release: string } | undefined };
  gates: GateRegistry;
  desired: DesiredStateStore;
  stateDir: string;
  secrets?: SecretsHook;
  // Opens sealed registry credentials of a stored DeployApp (not needed to recreate; passed on).
  openSealed?: (sealed: Uint8Array) => Uint8Array;
  liveness?: LivenessWatcher;
  events?: NodeEventSink;
  log?: Logger;
  // The exits folder; undefined: found with findExitsDir(); null: exit files are not watched
  // (deaths come from the events stream's `died` only).
  exitsDir?: string | null;
  clock?: PolicyClock;
  reconcileRetryMs?: number;
}

interface Supervised {
  app: string;
  policy: RestartPolicy;
  settingsKey: string;
  // The live container this entry knows (name from the app state, id once inspected).
  container?: string;
  containerId?: string;
  // running: started by us or found running; down: died, restart pending or failed.
  state: 'running' | 'down' | 'stopped' | 'unknown';
  timer?: NodeJS.Timeout;
  healthyTimer?: NodeJS.Timeout;
  // A restart, recreation or stop on purpose is under way.
  busy: boolean;
  // The StartedAt (ms) of the run whose death was handled, so a late `died` is not a new death.
  handledRun?: number;
  // The running container's network namespace file: once it is gone after a death, Podman's
  // cleanup has taken the old network down and a start sets up a new one (network-release.ts).
  sandboxKey?: string;
  // How long the last restart waited for that (reported with restart.done).
  networkWaitMs?: number;
  // When Podman last reported a `restart` of the container (someone ran `podman restart`).
  restartedByCliAt?: number;
  // Set when a liveness failure killed the container: the death's reason.
  probeReason?: string;
  // The last restart attempt's decision (restart.done/failed carry its attempt).
  decision?: RestartDecision;
  // Emitted container.removed for the current absence.
  removedSeen?: boolean;
  // The last restart found Podman's service away (restart.failed was emitted once for it).
  podmanAway?: boolean;
}

export class Lazarus {
  private readonly apps = new Map<string, Supervised>();
  private readonly history: RestartHistoryStore;
  private readonly clock: PolicyClock;
  private exitWatch?: ExitWatch;
  private stream?: PodmanEventStream;
  private started = false;
  private closed = false;
  private reconciling?: Promise<void>;
  private reconcileAgain = false;
  private reconcileTimer?: NodeJS.Timeout;
  private exitFilesMissedWarned = false;
  // startExitWatch said why it cannot watch (said once, tried again at every reconcile).
  private exitWatchReported = false;
  private readonly cli = new PodmanCliScanner();

  constructor(private readonly deps: LazarusDeps) {
    this.history = new RestartHistoryStore(deps.stateDir);
    this.clock = deps.clock ?? { now: Date.now, random: Math.random };
  }

  // Watches exit files and the events stream, then reconciles (also when Podman is not up yet:
  // the stream's connect reconciles again).
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.startExitWatch();
    // Reads /proc once now, so the first death does not pay for the whole scan.
    this.cli.intent({ name: '' });
    this.stream = new PodmanEventStream({
      podman: this.deps.podman,
      filters: { type: ['container'] },
      log: this.deps.log,
      onEvent: (e) => this.onPodmanEvent(e),
      onConnect: ({ reconnect }) => {
        if (reconnect && !this.exitWatch) this.startExitWatch();
        this.requestReconcile();
      },
    });
    this.stream.start();
    await this.reconcile();
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.stream?.close();
    this.exitWatch?.close();
    clearTimeout(this.reconcileTimer);
    for (const s of this.apps.values()) this.clearTimers(s);
    for (const app of this.apps.keys()) this.deps.liveness?.unwatch(app);
    await this.reconciling?.catch(() => undefined);
  }

  // For metrics and ListContainers: restarts Lazarus made since the app's last deploy.
  restartsOf(app: string): number {
    return this.supervised(app)?.policy.restarts ?? 0;
  }

  status(app: string): AppRunStatus {
    const s = this.supervised(app);
    if (!s) return 'unknown';
    if (s.state === 'stopped' || this.deps.desired.get(app)?.running === false) return 'stopped';
    if (s.policy.crashLooping) return 'crash-looping';
    if (s.timer || s.busy || s.state === 'down') return 'restarting';
    return s.state === 'running' ? 'running' : 'unknown';
  }

  // A deploy put a new release in service (signed: its DeployApp): that is the desired state,
  // running; the back-off and the restart count start over.
  deployed(signed: SignedCommand): void {
    const envelope = CommandEnvelope.decode(signed.payload);
    const app = envelope.deployApp?.app;
    if (!app) return;
    this.deps.desired.deployed(signed, envelope);
    const old = this.apps.get(app);
    const wasLooping = old?.policy.crashLooping ?? false;
    if (old) this.clearTimers(old);
    this.apps.delete(app);
    this.history.forget(app);
    const s = this.supervised(app);
    if (!s) return;
    if (wasLooping) this.emit(s, { kind: 'crashloop.left', message: `${app} is no longer crash-looping: a new release was deployed`, data: { restarts: 0 } });
    void this.adopt(s);
  }

  // RemoveApp: forgotten before its containers go, so nothing restarts them.
  forget(app: string): void {
    const s = this.apps.get(app);
    if (s) this.clearTimers(s);
    this.apps.delete(app);
    this.deps.liveness?.unwatch(app);
    this.deps.desired.forget(app);
    this.history.forget(app);
  }

  // SetAppRunning. Throws with the reason (nothing changed) for an unknown app or during a deploy.
  async setRunning(app: string, running: boolean): Promise<string> {
    const live = this.deps.deployer.state.live(app);
    if (!live) throw new LazarusRefused(`app ${app} has no release on this node: deploy it first`);
    const busy = this.deps.deployer.inProgress(app);
    if (busy) throw new LazarusRefused(`app ${app}: a deploy of release ${busy.release} is in progress; wait for it to finish, then ${running ? 'start' : 'stop'} the app`);
    const s = this.supervised(app) as Supervised;
    const persisted = this.deps.desired.setRunning(app, running, 'operator');
    const note = persisted ? '' : ' (this node holds no signed desired state of the app, so an agent restart forgets this: deploy the app again)';
    if (!persisted) this.deps.log?.warn({ event: 'desired_state_missing', app }, `app ${app}: running=${running} is not persisted${note}`);
    this.clearTimers(s);
    s.busy = true;
    try {
      if (!running) {
        s.state = 'stopped';
        s.policy.onStopped();
        this.saveHistory(s);
        this.deps.liveness?.unwatch(app);
        const { wasRunning } = await stopContainer(this.deps.podman, live.container, { graceSeconds: Math.ceil(live.stopGraceMs / MS_PER_S) }).catch((err) => {
          if (isPodmanNotFound(err)) return { wasRunning: false };
          throw err;
        });
        const message = `${app} stopped on purpose (${live.container} ${wasRunning ? 'stopped' : 'was not running'}); Lazarus leaves it stopped${note}`;
        this.emit(s, { kind: 'app.stopped', message, container: live.container, release: live.release, data: { by: 'operator' } });
        return message;
      }
      const how = await this.bringUp(s, live);
      const message = `${app} started (${live.container} ${how}); Lazarus keeps it running${note}`;
      this.emit(s, { kind: 'app.started', message, container: live.container, release: live.release, data: { by: 'operator' } });
      return message;
    } finally {
      s.busy = false;
    }
  }

  // Compares every live release with what Podman has. Serialised; a call while one runs makes
  // it run once more. Never throws: a Podman that does not answer is tried again.
  reconcile(): Promise<void> {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return this.reconciling;
    }
    this.reconciling = (async () => {
      do {
        this.reconcileAgain = false;
        try {
          await this.reconcileOnce();
        } catch (err) {
          this.deps.log?.warn({ event: 'lazarus_reconcile_failed', err: (err as Error).message }, `Lazarus could not compare the apps with Podman (${(err as Error).message}); trying again`);
          this.scheduleReconcile();
        }
      } while (this.reconcileAgain && !this.closed);
    })().finally(() => {
      this.reconciling = undefined;
    });
    return this.reconciling;
  }

  private requestReconcile(): void {
    if (!this.closed) void this.reconcile();
  }

  private scheduleReconcile(): void {
    if (this.closed || this.reconcileTimer) return;
    this.reconcileTimer = setTimeout(() => {
      this.reconcileTimer = undefined;
      this.requestReconcile();
    }, this.retryMs);
  }

  private get retryMs(): number {
    return this.deps.reconcileRetryMs ?? RECONCILE_RETRY_MS;
  }

  private async reconcileOnce(): Promise<void> {
    // Podman makes its tmp dir at its first container: an agent that started before may find
    // the exits folder now.
    if (!this.exitWatch) this.startExitWatch();
    const live = this.deps.deployer.state.all();
    for (const app of [...this.apps.keys()]) if (!(app in live)) this.forgetQuietly(app);
    for (const [app, release] of Object.entries(live)) {
      if (this.closed) return;
      const s = this.supervised(app);
      if (!s || s.busy || s.timer || this.deps.deployer.inProgress(app)) continue;
      if (s.container !== release.container) this.retarget(s, release);
      const info = await findContainer(this.deps.podman, release.container);
      if (this.closed || s.busy || s.timer || this.deps.deployer.state.live(app)?.container !== release.container) continue;
      if (this.deps.desired.get(app)?.running === false) {
        s.state = 'stopped';
        continue;
      }
      if (!info) {
        this.missing(s, release, 'found missing');
        continue;
      }
      s.containerId = info.id;
      if (info.running) {
        if (s.state !== 'running') this.markRunning(s, release);
        continue;
      }
      if (info.startedAt && s.handledRun === info.startedAt.getTime() && s.state === 'down') continue;
      this.death(s, { exitCode: info.exitCode, source: 'reconcile', runStartedAt: info.startedAt?.getTime(), oom: info.oomKilled });
    }
  }

  // A container that runs as it should: liveness and the healthy clock.
  private markRunning(s: Supervised, release: LiveRelease): void {
    void this.noteSandbox(s, release.container);
    s.state = 'running';
    if (s.policy.healthyAt() === undefined) s.policy.onStarted();
    this.saveHistory(s);
    this.armHealthy(s);
    this.watchLiveness(s, release);
  }

  private async noteSandbox(s: Supervised, container: string): Promise<void> {
    s.sandboxKey = undefined;
    const key = await sandboxKeyOf(this.deps.podman, container).catch(() => undefined);
    if (s.container === container && s.state === 'running') s.sandboxKey = key;
  }

  private async adopt(s: Supervised): Promise<void> {
    const release = this.deps.deployer.state.live(s.app);
    if (!release) return;
    this.retarget(s, release);
    try {
      const info = await findContainer(this.deps.podman, release.container);
      if (info?.running) {
        s.containerId = info.id;
        s.policy.onStarted();
        this.markRunning(s, release);
      } else this.requestReconcile();
    } catch {
      this.requestReconcile();
    }
  }

  private retarget(s: Supervised, release: LiveRelease): void {
    s.container = release.container;
    s.containerId = undefined;
    s.handledRun = undefined;
    s.removedSeen = false;
    s.state = 'unknown';
  }

  // --- deaths -------------------------------------------------------------------------------

  private onExit(n: ExitNotice): void {
    const s = [...this.apps.values()].find((x) => x.containerId === n.id);
    if (s) {
      this.death(s, { exitCode: n.exitCode, source: 'exit file', detectedMs: n.exitedAtMs === undefined ? undefined : n.detectedAtMs - n.exitedAtMs });
      return;
    }
    // An id not seen yet (a live container Lazarus has not inspected): look it up once.
    if ([...this.apps.values()].some((x) => !x.containerId)) void this.identify(n);
  }

  private async identify(n: ExitNotice): Promise<void> {
    const info = await findContainer(this.deps.podman, n.id).catch(() => undefined);
    if (!info) return;
    const name = info.name.replace(/^\//, '');
    const s = [...this.apps.values()].find((x) => x.container === name);
    if (!s) return;
    s.containerId = info.id;
    if (!info.running) this.death(s, { exitCode: n.exitCode, source: 'exit file', runStartedAt: info.startedAt?.getTime(), oom: info.oomKilled });
  }

  private onPodmanEvent(e: PodmanEvent): void {
    if (e.type !== 'container') return;
    const s = [...this.apps.values()].find((x) => (x.containerId && x.containerId === e.id) || (x.container !== undefined && x.container === e.name));
    if (!s || this.deps.deployer.state.live(s.app)?.container !== e.name) return;
    if (!s.containerId && e.id) s.containerId = e.id;
    const ids = { container: e.name };
    switch (e.action) {
      case 'oom':
        this.emit(s, { kind: 'container.oom', severity: 'warning', ...ids, message: `${e.name} of ${s.app} ran out of memory`, data: {} });
        return;
      case 'died': {
        // The exit file normally told first; this catches what it missed (and the fallback).
        const detectedMs = Math.max(0, this.clock.now() - e.timeNano / NANOS_PER_MS);
        void this.diedEvent(s, e, detectedMs);
        return;
      }
      case 'restart':
        // `podman restart` on the node: its own stop event (when Podman writes one) is not a stop.
        s.restartedByCliAt = this.clock.now();
        return;
      case 'stop':
        void this.stopEvent(s, e);
        return;
      case 'remove':
        if (!s.busy && !s.timer) {
          const release = this.deps.deployer.state.live(s.app);
          if (release && !this.deps.deployer.inProgress(s.app) && this.deps.desired.get(s.app)?.running !== false) this.missing(s, release, 'was removed');
        }
        return;
      default:
    }
  }

  private async diedEvent(s: Supervised, e: PodmanEvent, detectedMs: number): Promise<void> {
    const info = await findContainer(this.deps.podman, e.name).catch(() => undefined);
    if (!info || info.running || s.busy || s.timer) return;
    if (info.startedAt && s.handledRun === info.startedAt.getTime()) return;
    if (this.exitWatch && !this.exitFilesMissedWarned) {
      this.exitFilesMissedWarned = true;
      this.deps.log?.warn({ event: 'exit_file_missed', app: s.app, container: e.name }, `the death of ${e.name} came from the events stream, not an exit file: deaths may be detected late`);
    }
    this.death(s, { exitCode: e.exitCode ?? info.exitCode, source: 'events stream', detectedMs, runStartedAt: info.startedAt?.getTime(), oom: info.oomKilled });
  }

  // Someone stopped the live container with `podman stop`: on purpose. When Lazarus already
  // restarted it (the event came late), it is stopped again.
  private async stopEvent(s: Supervised, e: PodmanEvent): Promise<void> {
    const release = this.deps.deployer.state.live(s.app);
    if (!release || this.deps.desired.get(s.app)?.running === false || s.state === 'stopped') return;
    // A stop Lazarus itself made (a probe kill is a kill, not a stop) is not the node's.
    if (s.busy && s.state !== 'down') return;
    // Nor is the stop half of a `podman restart`, which brings the container back itself.
    if (s.restartedByCliAt !== undefined && this.clock.now() - s.restartedByCliAt < CLI_RESTART_STOP_WINDOW_MS) return;
    if (this.cli.intent({ id: s.containerId, name: release.container }) === 'restart') return;
    await this.stoppedOnNode(s, release, `${e.name} was stopped with podman stop`);
  }

  private async stoppedOnNode(s: Supervised, release: LiveRelease, why: string): Promise<void> {
    // A restart under way finishes first; the container is stopped after it.
    for (let waited = 0; s.busy && waited < BUSY_WAIT_MAX_MS; waited += BUSY_WAIT_STEP_MS) await new Promise((r) => setTimeout(r, BUSY_WAIT_STEP_MS));
    this.clearTimers(s);
    s.state = 'stopped';
    s.policy.onStopped();
    this.saveHistory(s);
    this.deps.liveness?.unwatch(s.app);
    this.deps.desired.setRunning(s.app, false, 'node');
    const info = await findContainer(this.deps.podman, release.container).catch(() => undefined);
    if (info?.running) await stopContainer(this.deps.podman, release.container, { graceSeconds: Math.ceil(release.stopGraceMs / MS_PER_S) }).catch(() => undefined);
    this.emit(s, {
      kind: 'app.stopped',
      container: release.container,
      release: release.release,
      message: `${s.app} stopped on purpose on the node (${why}); Lazarus leaves it stopped until it is started again`,
      data: { by: 'node' },
    });
  }

  private death(s: Supervised, d: { exitCode: number; source: string; detectedMs?: number; runStartedAt?: number; oom?: boolean }): void {
    const release = this.deps.deployer.state.live(s.app);
    if (!release || release.container !== s.container || this.closed) return;
    if (s.state === 'stopped' || this.deps.desired.get(s.app)?.running === false) return;
    if (s.busy || s.timer || s.state === 'down') return;
    s.state = 'down';
    if (d.runStartedAt !== undefined) s.handledRun = d.runStartedAt;
    this.deps.liveness?.unwatch(s.app);
    const probe = s.probeReason;
    s.probeReason = undefined;
    const detected = d.detectedMs === undefined ? '' : `, detected in ${d.detectedMs.toFixed(1)} ms`;
    this.emit(s, {
      kind: 'container.died',
      severity: 'warning',
      container: release.container,
      release: release.release,
      message: `${release.container} of ${s.app} died (exit code ${d.exitCode}${d.oom ? ', out of memory' : ''}${probe ? `, killed after its liveness probe failed: ${probe}` : ''}) via ${d.source}${detected}`,
      data: { exitCode: d.exitCode, detectedMs: d.detectedMs === undefined ? null : Math.round(d.detectedMs * 10) / 10, source: d.source, probe: probe ?? null },
    });
    if (probe) {
      this.scheduleRestart(s, release, `its liveness probe failed: ${probe}`);
      return;
    }
    void this.byUser(s, release).then((intent) => {
      if (intent === 'stop') return this.stoppedOnNode(s, release, 'podman stop on the node');
      if (intent === 'restart') {
        // `podman restart` brings it back itself; look again once it is done.
        s.state = 'unknown';
        this.deps.log?.info({ event: 'lazarus_cli_restart', app: s.app, container: release.container }, `${release.container} is being restarted with podman restart on the node; Lazarus looks again in ${CLI_RESTART_RECHECK_MS} ms`);
        setTimeout(() => this.requestReconcile(), CLI_RESTART_RECHECK_MS).unref?.();
        return;
      }
      this.scheduleRestart(s, release, `it died with exit code ${d.exitCode}`);
    });
  }

  // Whether the death was someone's stop on the node: a podman CLI process stopping it right
  // now (seen in /proc), or what Podman reports (StoppedByUser in newer Podman, "stopping").
  private async byUser(s: Supervised, release: LiveRelease): Promise<CliIntent | undefined> {
    const cli = this.cli.intent({ id: s.containerId, name: release.container });
    if (cli) return cli;
    try {
      const raw = await withContext(
        `container ${release.container}: inspect`,
        this.deps.podman.json<{ State?: { StoppedByUser?: boolean; Status?: string } }>(`/containers/${encodeURIComponent(release.container)}/json`, { timeoutMs: KILL_TIMEOUT_MS }),
      );
      return raw.State?.StoppedByUser === true || raw.State?.Status === 'stopping' ? 'stop' : undefined;
    } catch {
      return undefined;
    }
  }

  private missing(s: Supervised, release: LiveRelease, how: string): void {
    if (s.busy || s.timer || s.state === 'stopped') return;
    s.state = 'down';
    this.deps.liveness?.unwatch(s.app);
    if (!s.removedSeen) {
      s.removedSeen = true;
      this.emit(s, { kind: 'container.removed', severity: 'warning', container: release.container, release: release.release, message: `${release.container} of ${s.app} ${how}: Lazarus recreates it`, data: {} });
    }
    this.scheduleRestart(s, release, `its container ${how}`);
  }

  // --- restarts -----------------------------------------------------------------------------

  private scheduleRestart(s: Supervised, release: LiveRelease, why: string): void {
    if (this.closed) return;
    const d = s.policy.onFailure();
    s.decision = d;
    this.saveHistory(s);
    if (d.crashLoopLeft) this.emit(s, { kind: 'crashloop.left', message: `${s.app} is no longer crash-looping (it ran for the reset time)`, data: { restarts: d.restartsInWindow } });
    this.emit(s, {
      kind: 'restart.scheduled',
      container: release.container,
      release: release.release,
      message: `${s.app} restarts ${d.delayMs === 0 ? 'now' : `in ${d.delayMs} ms`} (attempt ${d.attempt}): ${why}`,
      data: { delayMs: d.delayMs, attempt: d.attempt },
    });
    if (d.crashLoopEntered) {
      this.emit(s, {
        kind: 'crashloop.entered',
        severity: 'error',
        container: release.container,
        release: release.release,
        message: `${s.app} is crash-looping: ${d.restartsInWindow} restarts within ${s.policy.settings.crashLoopWindowMs} ms; it is retried every ${s.policy.settings.maxBackoffMs} ms`,
        data: { restarts: d.restartsInWindow },
      });
    }
    const run = () => {
      s.timer = undefined;
      void this.restart(s, release.container);
    };
    if (d.delayMs === 0) {
      s.timer = setImmediate(run) as unknown as NodeJS.Timeout;
      return;
    }
    s.timer = setTimeout(run, d.delayMs);
  }

  private async restart(s: Supervised, container: string): Promise<void> {
    // The world may have moved on while the timer ran (a deploy switched the release, a stop on
    // purpose, RemoveApp): check again.
    const release = this.deps.deployer.state.live(s.app);
    if (this.closed || this.apps.get(s.app) !== s || !release || release.container !== container || s.state === 'stopped') return;
    if (this.deps.desired.get(s.app)?.running === false) return;
    const attempt = s.decision?.attempt ?? 0;
    s.busy = true;
    const t0 = performance.now();
    try {
      const how = await this.bringUp(s, release);
      s.podmanAway = false;
      const ms = Math.round((performance.now() - t0) * 10) / 10;
      this.emit(s, { kind: 'restart.done', container: release.container, release: release.release, message: `${s.app} ${how} in ${ms} ms (attempt ${attempt}${s.networkWaitMs ? `; ${s.networkWaitMs} ms of it waiting for Podman to release the old network` : ''})`, data: { attempt, ms, networkWaitMs: s.networkWaitMs ?? 0 } });
    } catch (err) {
      const reason = (err as Error).message;
      s.busy = false;
      s.state = 'down';
      // Podman's service is away (restarting): the same restart is tried again, not counted as
      // another failure of the app.
      const unreachable = err instanceof PodmanError && err.statusCode === undefined;
      if (!unreachable || !s.podmanAway) {
        const what = unreachable ? `; Podman does not answer, so it is tried again every ${this.retryMs} ms` : '';
        this.emit(s, { kind: 'restart.failed', severity: 'error', container: release.container, release: release.release, message: `restarting ${s.app} failed (attempt ${attempt}): ${reason}${what}`, data: { attempt, error: reason } });
      }
      if (err instanceof LazarusRefused) return;
      if (unreachable) {
        s.podmanAway = true;
        s.timer = setTimeout(() => {
          s.timer = undefined;
          void this.restart(s, container);
        }, this.retryMs);
        return;
      }
      this.scheduleRestart(s, release, `the last restart failed: ${reason}`);
      return;
    } finally {
      s.busy = false;
    }
  }

  // Starts the live container, recreating it first when it is missing. Resolves with what was
  // done ("restarted", "recreated and started", "was already running").
  private async bringUp(s: Supervised, release: LiveRelease): Promise<string> {
    const { podman } = this.deps;
    let how = 'restarted';
    const net = await waitNetworkReleased(podman, release.container, { sandboxKey: s.sandboxKey });
    s.sandboxKey = undefined;
    s.networkWaitMs = Math.round(net.waitedMs);
    if (!net.released) this.deps.log?.warn({ event: 'lazarus_network_busy', app: s.app, container: release.container, waitedMs: Math.round(net.waitedMs) }, `Podman still holds the old network of ${release.container}; starting it anyway`);
    // Straight to start (the fast path after a death); a missing container is recreated first.
    const res = await withContext(
      `container ${release.container}: start`,
      podman.call(`/containers/${encodeURIComponent(release.container)}/start`, { method: 'POST', acceptStatuses: [304, 404], timeoutMs: START_TIMEOUT_MS }),
    );
    if (res.status === 304) how = 'was already running';
    if (res.status === 404) {
      s.containerId = undefined;
      await this.recreate(s, release);
      await startContainer(podman, release.container);
      how = 'recreated and started';
    }
    if (!s.containerId) {
      const info = await findContainer(podman, release.container);
      if (!info) throw new Error(`${release.container} disappeared right after it started`);
      s.containerId = info.id;
    }
    this.exitWatch?.reset(s.containerId);
    s.handledRun = undefined;
    s.removedSeen = false;
    s.policy.onStarted();
    s.state = 'running';
    void this.noteSandbox(s, release.container);
    this.saveHistory(s);
    this.armHealthy(s);
    this.emit(s, { kind: 'container.started', container: release.container, release: release.release, message: `${release.container} of ${s.app} is running (${how})`, data: { how } });
    this.watchLiveness(s, release);
    return how;
  }

  private async recreate(s: Supervised, release: LiveRelease): Promise<void> {
    const desired = this.deps.desired.get(s.app);
    if (!desired) throw new LazarusRefused(`${release.container} is missing and this node holds no signed desired state of ${s.app}; deploy the app again`);
    if (desired.deploy.release !== release.release) {
      throw new LazarusRefused(`${release.container} is missing and the signed desired state is of release ${desired.deploy.release}, not ${release.release}; deploy the app again`);
    }
    const slots = this.deps.gates.lookup(s.app)?.slots;
    if (!slots) throw new LazarusRefused(`${release.container} is missing and app ${s.app} has no ingress slots on this node; deploy the app again`);
    const request = deployRequestFrom(desired.deploy, this.deps.openSealed);
    await createReleaseContainer({ podman: this.deps.podman, secrets: this.deps.secrets }, request, { slot: release.slot, address: slots[release.slot], name: release.container, imageId: release.imageId });
    this.emit(s, { kind: 'container.recreated', container: release.container, release: release.release, message: `${release.container} of ${s.app} recreated from the signed desired state (release ${release.release})`, data: {} });
  }

  // --- liveness and the healthy clock ------------------------------------------------------

  private watchLiveness(s: Supervised, release: LiveRelease): void {
    const { liveness } = this.deps;
    const settings = this.settingsOf(s.app).liveness;
    if (!liveness || !settings) return;
    const address = this.deps.gates.lookup(s.app)?.slots[release.slot];
    if (!address) return;
    liveness.watch({ app: s.app, container: release.container, address }, settings, (reason) => void this.probeFailed(s, release.container, reason));
  }

  private async probeFailed(s: Supervised, container: string, reason: string): Promise<void> {
    const release = this.deps.deployer.state.live(s.app);
    if (this.closed || !release || release.container !== container || s.state !== 'running' || s.busy || s.timer) return;
    s.probeReason = reason;
    this.deps.log?.warn({ event: 'lazarus_probe_kill', app: s.app, container, reason }, `${container} failed its liveness probe: killing it to restart it`);
    try {
      await withContext(
        `container ${container}: kill`,
        this.deps.podman.call(`/containers/${encodeURIComponent(container)}/kill`, { method: 'POST', query: { signal: 'SIGKILL' }, acceptStatuses: [409], timeoutMs: KILL_TIMEOUT_MS }),
      );
    } catch (err) {
      this.deps.log?.warn({ event: 'lazarus_probe_kill_failed', app: s.app, container, err: (err as Error).message }, 'killing the unresponsive container failed; reconciling');
      this.requestReconcile();
    }
  }

  private armHealthy(s: Supervised): void {
    clearTimeout(s.healthyTimer);
    s.healthyTimer = undefined;
    const at = s.policy.healthyAt();
    if (at === undefined || this.closed) return;
    s.healthyTimer = setTimeout(() => {
      s.healthyTimer = undefined;
      if (s.state !== 'running') return;
      const { reset, crashLoopLeft } = s.policy.checkHealthy();
      if (!reset) return this.armHealthy(s);
      this.saveHistory(s);
      if (crashLoopLeft) this.emit(s, { kind: 'crashloop.left', message: `${s.app} is no longer crash-looping: it ran for ${s.policy.settings.resetAfterMs} ms`, data: { restarts: s.policy.restarts } });
    }, Math.max(0, at - this.clock.now()));
    s.healthyTimer.unref?.();
  }

  // --- bookkeeping -------------------------------------------------------------------------

  private supervised(app: string): Supervised | undefined {
    const release = this.deps.deployer.state.live(app);
    if (!release) return undefined;
    const settings = this.settingsOf(app);
    const key = JSON.stringify(settings.restart);
    let s = this.apps.get(app);
    if (s && s.settingsKey !== key) {
      s.policy = new RestartPolicy(settings.restart, this.clock, s.policy.history());
      s.settingsKey = key;
    }
    if (!s) {
      s = { app, policy: new RestartPolicy(settings.restart, this.clock, this.history.get(app)), settingsKey: key, container: release.container, state: 'unknown', busy: false };
      if (this.deps.desired.get(app)?.running === false) s.state = 'stopped';
      this.apps.set(app, s);
    }
    return s;
  }

  private settingsOf(app: string): { restart: RestartPolicySettings; liveness?: LivenessSettings } {
    const desired = this.deps.desired.get(app);
    if (!desired) return { restart: { ...RESTART_DEFAULTS } };
    try {
      return lazarusSettings(deployRequestFrom(desired.deploy, this.deps.openSealed));
    } catch (err) {
      this.deps.log?.warn({ event: 'lazarus_settings_invalid', app, err: (err as Error).message }, `the restart settings of ${app} are invalid; the defaults apply`);
      return { restart: { ...RESTART_DEFAULTS } };
    }
  }

  private saveHistory(s: Supervised): void {
    try {
      this.history.set(s.app, s.policy.history());
    } catch (err) {
      this.deps.log?.error({ event: 'restart_history_failed', app: s.app, err: (err as Error).message }, 'the restart history could not be written');
    }
  }

  private clearTimers(s: Supervised): void {
    if (s.timer) {
      clearTimeout(s.timer);
      clearImmediate(s.timer as unknown as NodeJS.Immediate);
    }
    clearTimeout(s.healthyTimer);
    s.timer = undefined;
    s.healthyTimer = undefined;
  }

  private forgetQuietly(app: string): void {
    const s = this.apps.get(app);
    if (s) this.clearTimers(s);
    this.apps.delete(app);
    this.deps.liveness?.unwatch(app);
  }

  private emit(s: Supervised, e: Omit<NodeEventInput, 'app'>): void {
    const event: NodeEventInput = { severity: 'info', ...e, app: s.app };
    const level = event.severity === 'error' ? 'error' : event.severity === 'warning' ? 'warn' : 'info';
    this.deps.log?.[level]({ event: `lazarus_${event.kind.replace('.', '_')}`, app: s.app, container: event.container, ...event.data }, event.message);
    try {
      this.deps.events?.emit(event);
    } catch (err) {
      this.deps.log?.error({ event: 'event_sink_failed', kind: event.kind, err: (err as Error).message }, 'the event sink failed');
    }
  }

  private startExitWatch(): void {
    const { log } = this.deps;
    const once = !this.exitWatchReported;
    this.exitWatchReported = true;
    if (this.deps.exitsDir === null) {
      if (once) log?.info({ event: 'exit_watch_off' }, 'exit files are not watched: deaths come from the events stream (100-250 ms later)');
      return;
    }
    const dir = this.deps.exitsDir ?? findExitsDir();
    if (!dir) {
      if (once) log?.warn({ event: 'exit_watch_unavailable' }, "Podman's exits folder was not found: deaths come from the events stream's died (100-250 ms later) until it exists");
      return;
    }
    const watch = new ExitWatch({
      dir,
      onExit: (n) => this.onExit(n),
      onError: (reason) => {
        this.exitWatch = undefined;
        log?.warn({ event: 'exit_watch_lost', dir, reason }, `${reason}: deaths come from the events stream's died until the stream reconnects`);
      },
      log,
    });
    try {
      watch.start();
      this.exitWatch = watch;
      log?.info({ event: 'exit_watch_started', dir }, `watching ${dir} for container deaths`);
    } catch (err) {
      if (once) log?.warn({ event: 'exit_watch_unavailable', dir, err: (err as Error).message }, `${dir} cannot be watched (${(err as Error).message}): deaths come from the events stream's died (100-250 ms later)`);
    }
  }
}

// Lazarus will not do this (nothing was changed); the message says why and what to do.
export class LazarusRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LazarusRefused';
  }
}
