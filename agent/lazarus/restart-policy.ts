// When Lazarus restarts an app's live container, as a pure state machine per app (clock and
// random injected, so every figure is testable):
//   - the first restart after a healthy run happens at once; the next waits initialBackoffMs,
//     each later one RESTART_BACKOFF_FACTOR times the previous, up to maxBackoffMs, each drawn
//     from +-jitter around its nominal value;
//   - crashLoopRestarts restarts within crashLoopWindowMs mark the app crash-looping; it keeps
//     being restarted, every maxBackoffMs;
//   - resetAfterMs of running without a death or a probe failure forgets the back-off and ends a
//     crash loop.
import { RESTART_BACKOFF_FACTOR, type RestartPolicySettings } from '../../proto/lazarus-defaults';

// What survives an agent restart (persisted per app), so a crash loop stays marked.
export interface RestartHistory {
  // Failures since the last reset: the next restart is attempt + 1.
  attempt: number;
  // When each restart in the crash-loop window was decided (ms since the epoch), oldest first.
  recent: number[];
  crashLooping: boolean;
  // Since when the container runs again (undefined while it is down).
  runningSince?: number;
  // Every restart ever decided, for the UI's restart count.
  total: number;
}

export interface RestartDecision {
  // 1 for the first restart after a healthy run.
  attempt: number;
  delayMs: number;
  // The nominal wait before jitter.
  nominalMs: number;
  // This restart made the app crash-looping.
  crashLoopEntered: boolean;
  // Restarts within the window, this one included.
  restartsInWindow: number;
}

export interface HealthyOutcome {
  // The back-off was forgotten (attempt back to 0).
  reset: boolean;
  crashLoopLeft: boolean;
}

export interface PolicyClock {
  now: () => number;
  // [0, 1), as Math.random.
  random: () => number;
}

export function emptyHistory(): RestartHistory {
  return { attempt: 0, recent: [], crashLooping: false, total: 0 };
}

// The nominal wait before restart number `attempt` (1-based) of a run of failures.
export function nominalBackoffMs(settings: RestartPolicySettings, attempt: number, crashLooping: boolean): number {
  if (crashLooping) return settings.maxBackoffMs;
  if (attempt <= 1) return 0;
  return Math.min(settings.maxBackoffMs, settings.initialBackoffMs * RESTART_BACKOFF_FACTOR ** (attempt - 2));
}

export class RestartPolicy {
  private h: RestartHistory;

  constructor(
    readonly settings: RestartPolicySettings,
    private readonly clock: PolicyClock = { now: Date.now, random: Math.random },
    history?: RestartHistory,
  ) {
    this.h = history ? structuredClone(history) : emptyHistory();
  }

  // A death or a failed liveness probe: how long to wait before the restart. A run that lasted
  // resetAfterMs first resets the back-off (and ends a crash loop).
  onFailure(): RestartDecision & HealthyOutcome {
    const healthy = this.checkHealthy();
    const now = this.clock.now();
    this.h.runningSince = undefined;
    this.h.attempt += 1;
    this.h.total += 1;
    this.h.recent = [...this.h.recent.filter((t) => now - t < this.settings.crashLoopWindowMs), now];
    let crashLoopEntered = false;
    if (!this.h.crashLooping && this.h.recent.length >= this.settings.crashLoopRestarts) {
      this.h.crashLooping = true;
      crashLoopEntered = true;
    }
    // The restart that enters the crash loop still waits its exponential step; the next ones
    // wait the cap.
    const nominalMs = nominalBackoffMs(this.settings, this.h.attempt, this.h.crashLooping && !crashLoopEntered);
    const spread = nominalMs * this.settings.jitter * (2 * this.clock.random() - 1);
    const delayMs = Math.max(0, Math.round(nominalMs + spread));
    return { attempt: this.h.attempt, delayMs, nominalMs, crashLoopEntered, restartsInWindow: this.h.recent.length, ...healthy };
  }

  // The container runs again (a restart, a recreation, a start on purpose).
  onStarted(): void {
    this.h.runningSince = this.clock.now();
  }

  // The container is down on purpose: no run is being timed.
  onStopped(): void {
    this.h.runningSince = undefined;
  }

  // When the current run will have lasted resetAfterMs (undefined: nothing to reset, or not
  // running); the caller checks again then.
  healthyAt(): number | undefined {
    if (this.h.runningSince === undefined || (this.h.attempt === 0 && !this.h.crashLooping)) return undefined;
    return this.h.runningSince + this.settings.resetAfterMs;
  }

  // Forgets the back-off (and ends a crash loop) once the current run lasted resetAfterMs.
  checkHealthy(): HealthyOutcome {
    const at = this.healthyAt();
    if (at === undefined || this.clock.now() < at) return { reset: false, crashLoopLeft: false };
    const crashLoopLeft = this.h.crashLooping;
    this.h = { ...this.h, attempt: 0, recent: [], crashLooping: false };
    return { reset: true, crashLoopLeft };
  }

  get crashLooping(): boolean {
    return this.h.crashLooping;
  }

  get restarts(): number {
    return this.h.total;
  }

  history(): RestartHistory {
    return structuredClone(this.h);
  }
}
